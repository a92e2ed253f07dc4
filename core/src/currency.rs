//! ISO 4217 currencies with their number of minor digits.

/// One ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub digits: u8,
    pub name: &'static str,
}

const fn c(code: &'static str, digits: u8, name: &'static str) -> Currency {
    Currency { code, digits, name }
}

/// Active ISO 4217 currencies (funds and precious metals left out).
pub const CURRENCIES: &[Currency] = &[
    c("AED", 2, "UAE Dirham"),
    c("AFN", 2, "Afghani"),
    c("ALL", 2, "Lek"),
    c("AMD", 2, "Armenian Dram"),
    c("AOA", 2, "Kwanza"),
    c("ARS", 2, "Argentine Peso"),
    c("AUD", 2, "Australian Dollar"),
    c("AWG", 2, "Aruban Florin"),
    c("AZN", 2, "Azerbaijan Manat"),
    c("BAM", 2, "Convertible Mark"),
    c("BBD", 2, "Barbados Dollar"),
    c("BDT", 2, "Taka"),
    c("BGN", 2, "Bulgarian Lev"),
    c("BHD", 3, "Bahraini Dinar"),
    c("BIF", 0, "Burundi Franc"),
    c("BMD", 2, "Bermudian Dollar"),
    c("BND", 2, "Brunei Dollar"),
    c("BOB", 2, "Boliviano"),
    c("BRL", 2, "Brazilian Real"),
    c("BSD", 2, "Bahamian Dollar"),
    c("BTN", 2, "Ngultrum"),
    c("BWP", 2, "Pula"),
    c("BYN", 2, "Belarusian Ruble"),
    c("BZD", 2, "Belize Dollar"),
    c("CAD", 2, "Canadian Dollar"),
    c("CDF", 2, "Congolese Franc"),
    c("CHF", 2, "Swiss Franc"),
    c("CLP", 0, "Chilean Peso"),
    c("CNY", 2, "Yuan Renminbi"),
    c("COP", 2, "Colombian Peso"),
    c("CRC", 2, "Costa Rican Colon"),
    c("CUP", 2, "Cuban Peso"),
    c("CVE", 2, "Cabo Verde Escudo"),
    c("CZK", 2, "Czech Koruna"),
    c("DJF", 0, "Djibouti Franc"),
    c("DKK", 2, "Danish Krone"),
    c("DOP", 2, "Dominican Peso"),
    c("DZD", 2, "Algerian Dinar"),
    c("EGP", 2, "Egyptian Pound"),
    c("ERN", 2, "Nakfa"),
    c("ETB", 2, "Ethiopian Birr"),
    c("EUR", 2, "Euro"),
    c("FJD", 2, "Fiji Dollar"),
    c("FKP", 2, "Falkland Islands Pound"),
    c("GBP", 2, "Pound Sterling"),
    c("GEL", 2, "Lari"),
    c("GHS", 2, "Ghana Cedi"),
    c("GIP", 2, "Gibraltar Pound"),
    c("GMD", 2, "Dalasi"),
    c("GNF", 0, "Guinean Franc"),
    c("GTQ", 2, "Quetzal"),
    c("GYD", 2, "Guyana Dollar"),
    c("HKD", 2, "Hong Kong Dollar"),
    c("HNL", 2, "Lempira"),
    c("HTG", 2, "Gourde"),
    c("HUF", 2, "Forint"),
    c("IDR", 2, "Rupiah"),
    c("ILS", 2, "New Israeli Sheqel"),
    c("INR", 2, "Indian Rupee"),
    c("IQD", 3, "Iraqi Dinar"),
    c("IRR", 2, "Iranian Rial"),
    c("ISK", 0, "Iceland Krona"),
    c("JMD", 2, "Jamaican Dollar"),
    c("JOD", 3, "Jordanian Dinar"),
    c("JPY", 0, "Yen"),
    c("KES", 2, "Kenyan Shilling"),
    c("KGS", 2, "Som"),
    c("KHR", 2, "Riel"),
    c("KMF", 0, "Comorian Franc"),
    c("KPW", 2, "North Korean Won"),
    c("KRW", 0, "Won"),
    c("KWD", 3, "Kuwaiti Dinar"),
    c("KYD", 2, "Cayman Islands Dollar"),
    c("KZT", 2, "Tenge"),
    c("LAK", 2, "Lao Kip"),
    c("LBP", 2, "Lebanese Pound"),
    c("LKR", 2, "Sri Lanka Rupee"),
    c("LRD", 2, "Liberian Dollar"),
    c("LSL", 2, "Loti"),
    c("LYD", 3, "Libyan Dinar"),
    c("MAD", 2, "Moroccan Dirham"),
    c("MDL", 2, "Moldovan Leu"),
    c("MGA", 2, "Malagasy Ariary"),
    c("MKD", 2, "Denar"),
    c("MMK", 2, "Kyat"),
    c("MNT", 2, "Tugrik"),
    c("MOP", 2, "Pataca"),
    c("MRU", 2, "Ouguiya"),
    c("MUR", 2, "Mauritius Rupee"),
    c("MVR", 2, "Rufiyaa"),
    c("MWK", 2, "Malawi Kwacha"),
    c("MXN", 2, "Mexican Peso"),
    c("MYR", 2, "Malaysian Ringgit"),
    c("MZN", 2, "Mozambique Metical"),
    c("NAD", 2, "Namibia Dollar"),
    c("NGN", 2, "Naira"),
    c("NIO", 2, "Cordoba Oro"),
    c("NOK", 2, "Norwegian Krone"),
    c("NPR", 2, "Nepalese Rupee"),
    c("NZD", 2, "New Zealand Dollar"),
    c("OMR", 3, "Rial Omani"),
    c("PAB", 2, "Balboa"),
    c("PEN", 2, "Sol"),
    c("PGK", 2, "Kina"),
    c("PHP", 2, "Philippine Peso"),
    c("PKR", 2, "Pakistan Rupee"),
    c("PLN", 2, "Zloty"),
    c("PYG", 0, "Guarani"),
    c("QAR", 2, "Qatari Rial"),
    c("RON", 2, "Romanian Leu"),
    c("RSD", 2, "Serbian Dinar"),
    c("RUB", 2, "Russian Ruble"),
    c("RWF", 0, "Rwanda Franc"),
    c("SAR", 2, "Saudi Riyal"),
    c("SBD", 2, "Solomon Islands Dollar"),
    c("SCR", 2, "Seychelles Rupee"),
    c("SDG", 2, "Sudanese Pound"),
    c("SEK", 2, "Swedish Krona"),
    c("SGD", 2, "Singapore Dollar"),
    c("SHP", 2, "Saint Helena Pound"),
    c("SLE", 2, "Leone"),
    c("SOS", 2, "Somali Shilling"),
    c("SRD", 2, "Surinam Dollar"),
    c("SSP", 2, "South Sudanese Pound"),
    c("STN", 2, "Dobra"),
    c("SVC", 2, "El Salvador Colon"),
    c("SYP", 2, "Syrian Pound"),
    c("SZL", 2, "Lilangeni"),
    c("THB", 2, "Baht"),
    c("TJS", 2, "Somoni"),
    c("TMT", 2, "Turkmenistan New Manat"),
    c("TND", 3, "Tunisian Dinar"),
    c("TOP", 2, "Pa'anga"),
    c("TRY", 2, "Turkish Lira"),
    c("TTD", 2, "Trinidad and Tobago Dollar"),
    c("TWD", 2, "New Taiwan Dollar"),
    c("TZS", 2, "Tanzanian Shilling"),
    c("UAH", 2, "Hryvnia"),
    c("UGX", 0, "Uganda Shilling"),
    c("USD", 2, "US Dollar"),
    c("UYU", 2, "Peso Uruguayo"),
    c("UZS", 2, "Uzbekistan Sum"),
    c("VES", 2, "Bolivar Soberano"),
    c("VND", 0, "Dong"),
    c("VUV", 0, "Vatu"),
    c("WST", 2, "Tala"),
    c("XAF", 0, "CFA Franc BEAC"),
    c("XCD", 2, "East Caribbean Dollar"),
    c("XOF", 0, "CFA Franc BCEAO"),
    c("XPF", 0, "CFP Franc"),
    c("YER", 2, "Yemeni Rial"),
    c("ZAR", 2, "Rand"),
    c("ZMW", 2, "Zambian Kwacha"),
    c("ZWG", 2, "Zimbabwe Gold"),
];

/// Looks a currency up by its code, case-insensitively, ignoring surrounding spaces.
pub fn currency(code: &str) -> Option<&'static Currency> {
    let code = code.trim();
    CURRENCIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        for w in CURRENCIES.windows(2) {
            assert!(w[0].code < w[1].code, "{} before {}", w[0].code, w[1].code);
        }
        for c in CURRENCIES {
            assert_eq!(c.code.len(), 3);
            assert!(c.code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(c.digits <= 3);
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(currency("usd").unwrap().digits, 2);
        assert_eq!(currency(" JPY ").unwrap().digits, 0);
        assert_eq!(currency("KWD").unwrap().digits, 3);
        assert!(currency("XYZ").is_none());
        assert!(currency("").is_none());
    }
}
