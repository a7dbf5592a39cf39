# shellcheck shell=bash
# The Rust side of the prerequisites: toolchain components and cargo-nextest.

NEXTEST_VERSION="0.9.143"

# ensure_rust_tools: cargo, rustfmt and clippy must be there; cargo-nextest is installed into
# the cache with `cargo install --locked` when it is not already on PATH.
ensure_rust_tools() {
  need cargo "the Rust toolchain (https://rustup.rs)"
  # Linters: installed with rustup when missing; one that cannot be had is reported in one line
  # (SG_HAVE_FMT / SG_HAVE_CLIPPY = 0) and the run goes on without it.
  SG_HAVE_FMT=1 SG_HAVE_CLIPPY=1
  local comp
  for comp in rustfmt clippy; do
    local sub=${comp/rustfmt/fmt}
    cargo "$sub" --version >/dev/null 2>&1 && continue
    if command -v rustup >/dev/null 2>&1 && rustup component add "$comp" >/dev/null 2>&1 \
      && cargo "$sub" --version >/dev/null 2>&1; then
      log "installed $comp with rustup"
      continue
    fi
    log "$comp is not installed and could not be installed with rustup: the cargo $sub step is not run"
    if [ "$comp" = rustfmt ]; then SG_HAVE_FMT=0; else SG_HAVE_CLIPPY=0; fi
  done
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

CARGO_FUZZ_VERSION="0.13.1"

# ensure_cargo_fuzz: cargo-fuzz from crates.io, installed into the cache with
# `cargo install --locked` when it is not already on PATH (for scripts/fuzz).
ensure_cargo_fuzz() {
  local root="$SG_CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"
  export PATH="$root/bin:$PATH"
  if cargo fuzz --version >/dev/null 2>&1; then return 0; fi
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $root (cargo install, a few minutes)"
  cargo install --quiet --locked --root "$root" "cargo-fuzz@$CARGO_FUZZ_VERSION" \
    || die "cargo install cargo-fuzz@$CARGO_FUZZ_VERSION failed"
  cargo fuzz --version >/dev/null 2>&1 || die "cargo-fuzz is not runnable from $root/bin"
}
