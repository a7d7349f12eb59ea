//! Compiles proto/quiver/serving/v1/serving.proto with protox (pure Rust), so a
//! fresh machine needs no `protoc` installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with env!(): cargo reuses a compiled build script
    // across checkouts of the same workspace, so a path baked in at compile
    // time can point at another clone.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let proto_root = std::path::Path::new(&manifest_dir).join("../../proto");
    let serving = proto_root.join("quiver/serving/v1/serving.proto");
    println!("cargo:rerun-if-changed={}", serving.display());
    let descriptors = protox::compile([&serving], [&proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
