use crate::platform::read_data_url;
use crate::state::{save_profile, Store};
use crate::widgets::{area, field, setter, Form};
use ledgerline_core::backups::Every;
use ledgerline_core::currency::currency;
use ledgerline_core::model::{logo_problem, Profile, Settings, LOGO_TYPES, MAX_LOGO_BYTES};
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Clone, PartialEq)]
struct ProfileForm {
    profile: Profile,
    currency: String,
    terms: String,
    prefix: String,
}

#[function_component(SettingsPage)]
pub fn settings_page() -> Html {
    let store = use_context::<Store>().expect("store context");
    let form = {
        let p = store.snap.profile.clone();
        let s = store.snap.settings.clone();
        use_reducer(move || {
            Form(ProfileForm {
                currency: p.default_currency.clone(),
                terms: p.payment_terms_days.to_string(),
                prefix: s.number_prefix.clone(),
                profile: p,
            })
        })
    };
    let message = use_state(|| None::<(bool, String)>);

    let on_logo = {
        let form = form.clone();
        let message = message.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            input.set_value("");
            if !LOGO_TYPES.contains(&file.type_().as_str()) {
                message.set(Some((
                    false,
                    if file.type_() == "image/svg+xml" {
                        format!("'{}' is an SVG image, which can carry scripts and links to other sites: save it as PNG (or JPEG, WebP) and choose that.", file.name())
                    } else {
                        format!("'{}' is not a PNG, JPEG or WebP image: choose one of those.", file.name())
                    },
                )));
                return;
            }
            // base64 grows the file by a third
            let limit_kb = MAX_LOGO_BYTES * 3 / 4 / 1024;
            if file.size() > (MAX_LOGO_BYTES * 3 / 4) as f64 {
                message.set(Some((false, format!("The logo '{}' is {} KB; the limit is {limit_kb} KB. Use a smaller or compressed image.", file.name(), (file.size() / 1024.0).ceil() as u64))));
                return;
            }
            let form = form.clone();
            let message = message.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match read_data_url(&file).await {
                    Ok(url) if logo_problem(&url).is_none() => {
                        form.dispatch(std::rc::Rc::new(move |f: &mut ProfileForm| {
                            f.profile.logo = Some(url.clone())
                        }));
                        message.set(Some((true, "Logo loaded: press Save to keep it.".into())));
                    }
                    Ok(url) => message.set(Some((
                        false,
                        format!(
                            "The logo cannot be used: {}. Choose a PNG, JPEG or WebP of at most {limit_kb} KB.",
                            logo_problem(&url).unwrap_or_default()
                        ),
                    ))),
                    Err(e) => {
                        message.set(Some((false, format!("The logo could not be read ({e})."))))
                    }
                }
            });
        })
    };
    let remove_logo = {
        let form = form.clone();
        Callback::from(move |_| {
            form.dispatch(std::rc::Rc::new(|f: &mut ProfileForm| {
                f.profile.logo = None
            }))
        })
    };
    let on_save = {
        let store = store.clone();
        let form = form.clone();
        let message = message.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let f = &form.0;
            let Some(cur) = currency(&f.currency) else {
                message.set(Some((
                    false,
                    format!(
                        "Unknown currency '{}': use an ISO 4217 code such as USD, EUR or JPY.",
                        f.currency.trim()
                    ),
                )));
                return;
            };
            let Ok(days) = f.terms.trim().parse::<u32>() else {
                message.set(Some((
                    false,
                    "Payment terms must be a whole number of days, such as 30.".into(),
                )));
                return;
            };
            if days > 365 {
                message.set(Some((
                    false,
                    "Payment terms can be at most 365 days.".into(),
                )));
                return;
            }
            let prefix = f.prefix.trim().to_string();
            if prefix.chars().count() > 20 {
                message.set(Some((
                    false,
                    "The number prefix can be at most 20 characters.".into(),
                )));
                return;
            }
            let mut p = f.profile.clone();
            p.default_currency = cur.code.to_string();
            p.payment_terms_days = days;
            let s = Settings {
                number_prefix: prefix,
                ..store.snap.settings.clone()
            };
            match save_profile(&store, p, s) {
                Ok(()) => {
                    crate::records::sync_soon(&store);
                    message.set(Some((true, "Settings saved.".into())))
                }
                Err(e) => message.set(Some((false, e.message()))),
            }
        })
    };
    let f = &form.0;
    html! {
        <section class="page">
            <div class="page-head"><h1>{ "Settings" }</h1></div>
            <form class="card" onsubmit={on_save} novalidate=true>
                <h2>{ "Business profile" }</h2>
                if let Some((ok, text)) = &*message {
                    <div class={if *ok { "banner banner-info" } else { "banner banner-error" }} data-testid="profile-message" role="status">{ text }</div>
                }
                <div class="grid">
                    { field("Business name", "profile-name", "text", &f.profile.name, setter(&form, |f: &mut ProfileForm, v| f.profile.name = v), None) }
                    { field("Email", "profile-email", "email", &f.profile.email, setter(&form, |f: &mut ProfileForm, v| f.profile.email = v), None) }
                    { field("Tax ID", "profile-tax-id", "text", &f.profile.tax_id, setter(&form, |f: &mut ProfileForm, v| f.profile.tax_id = v), None) }
                    { area("Address", "profile-address", &f.profile.address, setter(&form, |f: &mut ProfileForm, v| f.profile.address = v)) }
                    { field("Default currency", "profile-currency", "text", &f.currency, setter(&form, |f: &mut ProfileForm, v| f.currency = v), None) }
                    { field("Payment terms (days)", "profile-terms", "text", &f.terms, setter(&form, |f: &mut ProfileForm, v| f.terms = v), None) }
                    { field("Invoice number prefix", "profile-prefix", "text", &f.prefix, setter(&form, |f: &mut ProfileForm, v| f.prefix = v), None) }
                    { area("Default notes", "profile-notes", &f.profile.default_notes, setter(&form, |f: &mut ProfileForm, v| f.profile.default_notes = v)) }
                    { area("Default terms", "profile-default-terms", &f.profile.default_terms, setter(&form, |f: &mut ProfileForm, v| f.profile.default_terms = v)) }
                </div>
                <div class="logo-field">
                    <span class="label">{ format!("Logo (PNG, JPEG or WebP, at most {} KB)", MAX_LOGO_BYTES * 3 / 4 / 1024) }</span>
                    if let Some(logo) = &f.profile.logo {
                        if let Some(why) = logo_problem(logo) {
                            <p class="banner banner-error" data-testid="profile-logo-problem">{ format!("The stored logo is not shown: {why}. Remove it and load a PNG, JPEG or WebP image.") }</p>
                        } else {
                            <img class="logo" src={logo.clone()} alt="Current logo" />
                        }
                        <button type="button" data-testid="profile-logo-remove" onclick={remove_logo}>{ "Remove logo" }</button>
                    }
                    <input type="file" accept="image/png,image/jpeg,image/webp" data-testid="profile-logo" onchange={on_logo} />
                </div>
                <div class="form-actions">
                    <button type="submit" class="primary" data-testid="profile-save">{ "Save settings" }</button>
                </div>
            </form>
            <BackupSettings />
            <ExportFolder />
            <BackgroundStatus />
            <super::cloud::CloudSettings />
        </section>
    }
}

/// Settings → Backups: how often this browser exports its data by itself, and how many
/// of those exports it keeps (this device only).
#[function_component(BackupSettings)]
fn backup_settings() -> Html {
    let store = use_context::<Store>().expect("store context");
    let every = use_state(|| store.config.auto_export);
    let kept = use_state(|| store.config.auto_exports_kept.to_string());
    let message = use_state(|| None::<(bool, String)>);
    let on_every = {
        let every = every.clone();
        Callback::from(move |e: Event| {
            let v = e
                .target_unchecked_into::<web_sys::HtmlSelectElement>()
                .value();
            if let Some(x) = Every::parse(&v) {
                every.set(x);
            }
        })
    };
    let on_save = {
        let (store, every, kept, message) =
            (store.clone(), every.clone(), kept.clone(), message.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let n = match kept.trim().parse::<u32>() {
                Ok(n) if (1..=365).contains(&n) => n,
                _ => {
                    message.set(Some((false, format!("'{}' is not a number of exports to keep: enter a whole number from 1 to 365.", kept.trim()))));
                    return;
                }
            };
            let mut c = store.config.clone();
            c.auto_export = *every;
            c.auto_exports_kept = n;
            match crate::state::save_config(&store, c) {
                Ok(()) => message.set(Some((
                    true,
                    match *every {
                        Every::Off => "Saved: automatic exports are off.".to_string(),
                        e => format!(
                            "Saved: this browser exports your data {} and keeps the newest {n}.",
                            e.label()
                        ),
                    },
                ))),
                Err(e) => message.set(Some((false, e.message()))),
            }
        })
    };
    let last = crate::autoexport::last(&store).map(|at| {
        String::from(
            js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at))
                .to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED),
        )
    });
    html! {
        <form class="card" data-testid="backup-settings" onsubmit={on_save} novalidate=true>
            <h2>{ "Backups" }</h2>
            <p class="muted">{ "A full export of your invoices, clients and profile, kept in this browser (Data → Backups), where it can be downloaded or restored. It runs while Ledgerline is open, and in an installed app also with no tab open (periodic sync, below)." }</p>
            if let Some((ok, text)) = &*message {
                <div class={if *ok { "banner banner-info" } else { "banner banner-error" }} data-testid="backup-settings-message" role="status">{ text }</div>
            }
            <div class="grid">
                <label class="field">
                    <span class="label">{ "Automatic export" }</span>
                    <select data-testid="auto-export-every" onchange={on_every}>
                        { for [Every::Day, Every::Week, Every::Off].into_iter().map(|e| html! {
                            <option value={e.value()} selected={*every == e}>{ e.label() }</option>
                        }) }
                    </select>
                </label>
                { field("Automatic exports kept", "auto-export-kept", "text", &kept, { let kept = kept.clone(); Callback::from(move |v: String| kept.set(v)) }, None) }
            </div>
            <p class="muted" data-testid="auto-export-last">{ match last {
                Some(t) => format!("Last automatic export: {t}."),
                None => "No automatic export yet.".to_string(),
            } }</p>
            <div class="form-actions">
                <button type="submit" data-testid="backup-settings-save">{ "Save backup settings" }</button>
            </div>
        </form>
    }
}

/// Settings → Backups → Export folder: where the browser allows it, each automatic
/// export is also written to a folder the user chooses (`crate::folder`).
#[function_component(ExportFolder)]
fn export_folder() -> Html {
    use crate::folder::{self, Status};
    let store = use_context::<Store>().expect("store context");
    let status = use_state(|| None::<Status>);
    let message = use_state(|| None::<(bool, String)>);
    let busy = use_state(|| false);
    let user = crate::oplog::user_of(&store);
    let reload = {
        let (store, status) = (store.clone(), status.clone());
        move || {
            let (store, status) = (store.clone(), status.clone());
            wasm_bindgen_futures::spawn_local(async move {
                status.set(Some(folder::status(&store).await));
            });
        }
    };
    {
        let reload = reload.clone();
        use_effect_with(user, move |_| reload());
    }
    // one action at a time, each with its answer shown and the status read again
    let act = |what: &'static str| {
        let (store, message, busy, reload) =
            (store.clone(), message.clone(), busy.clone(), reload.clone());
        Callback::from(move |_: MouseEvent| {
            if *busy {
                return;
            }
            busy.set(true);
            let (store, message, busy, reload) =
                (store.clone(), message.clone(), busy.clone(), reload.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = match what {
                    "choose" => folder::choose(&store).await.map(|m| {
                        m.unwrap_or_else(|| "No folder was chosen: exports stay in this browser.".to_string())
                    }),
                    "allow" => folder::allow(&store).await,
                    _ => folder::forget(&crate::oplog::user_of(&store)).await.map(|()| {
                        "Automatic exports are no longer written to a folder (the files already there stay).".to_string()
                    }),
                };
                message.set(Some(match outcome {
                    Ok(m) => (true, m),
                    Err(e) => (false, format!("The export folder could not be set up: {e}. Exports stay in this browser (Data → Backups); try again, or choose another folder.")),
                }));
                busy.set(false);
                reload();
            });
        })
    };
    let last = |f: &folder::Folder| match (&f.error, &f.file) {
        (Some(e), _) => {
            html! { <p class="banner banner-error" data-testid="folder-last">{ format!("The last write failed: {e}. It is tried again at the next export; if the folder was moved or removed, choose it again.") }</p> }
        }
        (None, Some((name, at))) => {
            html! { <p class="muted" data-testid="folder-last">{ format!("Last written: {name}, {}.", String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(*at)).to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))) }</p> }
        }
        (None, None) => {
            html! { <p class="muted" data-testid="folder-last">{ "Nothing written there yet: the next automatic export goes there." }</p> }
        }
    };
    let (state, body) = match &*status {
        None => ("unknown", html! { <p>{ "Looking…" }</p> }),
        Some(Status::Unsupported) => (
            "unsupported",
            html! {
                <p>{ "This browser cannot write to a folder you choose (Chrome and Edge can): automatic exports are kept in this browser only. Download one now and then from Data → Backups to keep a copy elsewhere." }</p>
            },
        ),
        Some(Status::Unreadable(e)) => (
            "unreadable",
            html! {
                <p class="banner banner-error">{ format!("The chosen folder could not be read from this browser's storage ({e}). Choose it again.") }</p>
            },
        ),
        Some(Status::NotChosen) => (
            "none",
            html! {
                <>
                    <p>{ "Also write each automatic export to a folder on this computer (for example one your backup or cloud drive copies). The browser asks once for permission to write there; Ledgerline never deletes files in it." }</p>
                    <div class="form-actions">
                        <button type="button" data-testid="folder-choose" disabled={*busy} onclick={act("choose")}>{ "Choose a folder…" }</button>
                    </div>
                </>
            },
        ),
        Some(Status::Chosen(f, a)) => (
            a.value(),
            html! {
                <>
                    <p>{ format!("Each automatic export is also written to the folder “{}”.", f.name) }</p>
                    { match a {
                        folder::Access::Granted => html! { <p data-testid="folder-permission">{ "Permission to write there: granted." }</p> },
                        folder::Access::Prompt => html! { <p class="banner banner-warn" data-testid="folder-permission">{ "Permission to write there is needed again (the browser asks after it restarts). Until then exports are kept in this browser and written to the folder once allowed." }</p> },
                        folder::Access::Denied => html! { <p class="banner banner-error" data-testid="folder-permission">{ "The browser refuses to write there. Exports are kept in this browser; allow it in the site's settings (the icon left of the address) or choose another folder." }</p> },
                    } }
                    { last(f) }
                    if store.config.auto_export == Every::Off {
                        <p class="muted">{ "Automatic exports are off: nothing is written until they are on again." }</p>
                    }
                    <div class="form-actions">
                        if *a != folder::Access::Granted {
                            <button type="button" class="primary" data-testid="folder-allow" disabled={*busy} onclick={act("allow")}>{ format!("Allow writing to “{}”", f.name) }</button>
                        }
                        <button type="button" data-testid="folder-choose" disabled={*busy} onclick={act("choose")}>{ "Choose another folder…" }</button>
                        <button type="button" data-testid="folder-stop" disabled={*busy} onclick={act("stop")}>{ "Stop writing to this folder" }</button>
                    </div>
                </>
            },
        ),
    };
    html! {
        <section class="card" data-testid="export-folder">
            <h2>{ "Export folder" }</h2>
            if let Some((ok, text)) = &*message {
                <div class={if *ok { "banner banner-info" } else { "banner banner-error" }} data-testid="folder-message" role="status">{ text }</div>
            }
            <div data-testid="folder-status" data-state={state}>{ body }</div>
        </section>
    }
}

/// Settings → Background sync: what this browser lets the service worker do once every
/// Ledgerline tab is closed.
#[function_component(BackgroundStatus)]
fn background_status() -> Html {
    use crate::background::{ensure_periodic, sync_supported, Periodic};
    let periodic = use_state(|| Periodic::Unknown);
    {
        let periodic = periodic.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                periodic.set(ensure_periodic().await);
            });
        });
    }
    let (sync_state, sync_text) = if sync_supported() {
        ("available", "Available: changes saved while DynamoDB cannot be reached are sent by Ledgerline's service worker as soon as it can be, even after every Ledgerline tab is closed.")
    } else {
        ("unsupported", "Not available in this browser: changes saved offline are sent while a Ledgerline tab is open (at start-up, when the network comes back, and at every connection check).")
    };
    let (periodic_state, periodic_text) = match &*periodic {
        Periodic::Unknown => ("unknown", "Looking…".to_string()),
        Periodic::Unsupported => ("unsupported", "Not available in this browser: automatic exports run while Ledgerline is open.".to_string()),
        Periodic::NotAllowed => ("not-allowed", "Not allowed here: install Ledgerline as an app (the install button in the address bar) and Chromium lets it sync and export now and then with no tab open.".to_string()),
        Periodic::Active => ("active", "Active: now and then (about every 12 hours, as the browser decides) Ledgerline sends what waits and makes the automatic export if one is due, with no tab open.".to_string()),
        Periodic::Failed(why) => ("failed", format!("Could not be turned on ({why}). Automatic exports run while Ledgerline is open.")),
    };
    html! {
        <section class="card" data-testid="background-status">
            <h2>{ "Background sync" }</h2>
            <p data-testid="bg-sync-status" data-state={sync_state}><strong>{ "Sending when the network is back: " }</strong>{ sync_text }</p>
            <p data-testid="periodic-sync-status" data-state={periodic_state}><strong>{ "Periodic sync: " }</strong>{ periodic_text }</p>
            <p class="muted">{ "To see it at work: DevTools → Application → Background services → Background sync / Periodic background sync (record, then wait or go offline and back)." }</p>
        </section>
    }
}
