//! One module per subcommand; each calls into the libraries and prints.

pub mod apply;
pub mod datagen;
pub mod demo;
pub mod get;
pub mod history;
pub mod init;
pub mod log;
pub mod maintenance;
pub mod materialize;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod training_set;
