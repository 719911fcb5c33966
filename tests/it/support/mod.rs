//! Test fixtures shared by the integration tests: real servers started per test.

pub mod books;
pub mod browser;
pub mod desk;
pub mod dovecot;
pub mod http;
pub mod install;
pub mod mime;
pub mod prom;
pub mod sdnotify;
pub mod smtp;
