//! One module per subcommand; each calls into the libraries and prints.

/// Who called a command, so that its "Next:" hint fits: a user who typed it
/// is told the step that comes next; inside `quiver demo` the demo runs that
/// step itself, and a hint to run it by hand would mislead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The command as typed on the command line.
    User,
    /// A step of `quiver demo`.
    Demo,
}

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
