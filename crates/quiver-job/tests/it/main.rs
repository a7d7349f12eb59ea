//! Integration tests of the feature job, on real files, a real Delta table and
//! the real embedded online store.

mod bad_input;
mod definitions;
mod end_to_end;
mod replace_range;
mod sliding_windows;
mod source_formats;
mod support;
mod windows;
