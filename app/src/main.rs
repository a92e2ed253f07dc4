fn main() {
    ledgerline_app::run();
}
