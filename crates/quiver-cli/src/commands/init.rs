//! `quiver init DIR`.

use std::path::Path;

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let written = quiver_core::scaffold::init_energy_repo(dir)?;
    println!("Created a feature repository in {}:", dir.display());
    for path in written {
        println!("  {}", path.display());
    }
    println!(
        "Next: put data in place (quiver datagen energy --out {}/{}), then `quiver apply --repo {}`.",
        dir.display(),
        quiver_core::scaffold::ENERGY_SOURCE_FILE,
        dir.display()
    );
    Ok(())
}
