//! Compiles the example contracts the way a user's crate would, so the integration tests can
//! check what a build script produces; then generates a tonic client and prost messages from
//! the emitted `.proto` files (through their descriptor set: no protoc), as a gRPC user would.

fn main() {
    let output = cmmv_compiler::Builder::new()
        .contracts_dir("../contracts")
        .locked(std::env::var_os("CI").is_some())
        .run();
    let descriptor = output
        .out_dir
        .join(cmmv_compiler::emit::proto::DESCRIPTOR_PATH);
    let bytes = std::fs::read(&descriptor).expect("the build wrote the descriptor set");
    let set = <tonic_prost_build::FileDescriptorSet as prost::Message>::decode(bytes.as_slice())
        .expect("the descriptor set decodes");
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(set)
        .expect("tonic generates the client");
}
