//! The command-line program around the library: arguments and setup, one
//! run (`serve`), the banner, live output, `--json` events and fixture
//! mode. The library itself never prints.

pub mod address;
pub mod args;
pub mod banner;
pub mod bar;
pub mod copies;
pub mod fit;
pub mod fixture;
pub mod json;
pub mod paths;
pub mod run;
pub mod serve;
pub mod setup;
pub mod size;
pub mod ui;
