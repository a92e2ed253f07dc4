//! Ledgerline: an offline-first invoice generator (Yew).

pub mod app;
pub mod autoexport;
pub mod background;
pub mod cloud;
pub mod folder;
pub mod numbers;
pub mod oplog;
pub mod pages;
pub mod platform;
pub mod records;
pub mod scoped;
pub mod service;
pub mod state;
pub mod sync;
pub mod widgets;

/// Mounts the app on `<body>`.
pub fn run() {
    yew::Renderer::<app::App>::new().render();
}
