//! `quiver init DIR`.

use super::Caller;
use quiver_core::scaffold::ENERGY_SOURCE_FILE;
use std::path::Path;

pub fn run(dir: &Path, caller: Caller) -> anyhow::Result<()> {
    let written = quiver_core::scaffold::init_energy_repo(dir)?;
    println!("Created a feature repository in {}:", dir.display());
    for path in written {
        println!("  {}", path.display());
    }
    if caller == Caller::User {
        let d = dir.display();
        if dir.join(ENERGY_SOURCE_FILE).exists() {
            println!("Next: `quiver apply --repo {d}` (the data is in place).");
        } else {
            println!(
                "Next: put data in place (quiver datagen energy --out {d}/{ENERGY_SOURCE_FILE}), then `quiver apply --repo {d}`."
            );
        }
    }
    Ok(())
}
