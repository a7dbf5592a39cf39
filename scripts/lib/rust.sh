# shellcheck shell=bash
# The Rust side of the prerequisites: toolchain components and cargo-nextest.

NEXTEST_VERSION="0.9.143"

# ensure_rust_tools: cargo, rustfmt and clippy must be there; cargo-nextest is installed into
# the cache with `cargo install --locked` when it is not already on PATH.
ensure_rust_tools() {
  need cargo "the Rust toolchain (https://rustup.rs)"
  cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: rustup component add rustfmt"
  cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: rustup component add clippy"
  if cargo nextest --version >/dev/null 2>&1; then return 0; fi
  local root="$SG_CACHE/cargo-nextest-$NEXTEST_VERSION"
  if [ ! -x "$root/bin/cargo-nextest" ]; then
    log "installing cargo-nextest $NEXTEST_VERSION into $root (cargo install, a few minutes)"
    cargo install --quiet --locked --root "$root" "cargo-nextest@$NEXTEST_VERSION" \
      || die "cargo install cargo-nextest@$NEXTEST_VERSION failed"
  fi
  export PATH="$root/bin:$PATH"
  cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest is not runnable from $root/bin"
}

# cargo_target_dir: where cargo puts build output for this workspace (honours CARGO_TARGET_DIR).
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps --manifest-path "$SG_ROOT/Cargo.toml" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
