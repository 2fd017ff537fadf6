# Shared by cross/build and cross/smoke: what each target needs, and the checks on
# the binary. Sourced, not run.

CROSS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$CROSS_DIR/.." && pwd)
# The crate to build: this repository unless CROSS_CRATE_DIR names another (cross/measure
# uses it for a probe crate); BIN_NAME likewise from CROSS_BIN.
CRATE_DIR=${CROSS_CRATE_DIR:-$ROOT}
# Our own target dir (CROSS_TARGET_DIR overrides; CARGO_TARGET_DIR is ignored), so that
# cross builds never lock or mix with the host builds in target/.
TARGET_DIR=${CROSS_TARGET_DIR:-$ROOT/target/cross}
BIN_NAME=${CROSS_BIN:-dyspatcher}
SIZE_BUDGET=${SIZE_BUDGET:-3000000}   # bytes, stripped, web assets included

# The targets `cross/build all` builds (ARMv6 needs nightly: built only when named).
ALL_TARGETS="aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf x86_64-unknown-linux-musl"

die() { echo "cross: $*" >&2; exit 1; }

# target_info TARGET: sets TOOLCHAIN CC_BIN CC_PKG STRIP_BIN ELF_TYPE RUNNER RUNNER_PKG QEMU_CPU_WANT BUILD_STD
target_info() {
  TOOLCHAIN=stable BUILD_STD=no RUNNER= RUNNER_PKG= QEMU_CPU_WANT=
  case "$1" in
    aarch64-unknown-linux-musl)
      CC_BIN=aarch64-linux-gnu-gcc CC_PKG=gcc-aarch64-linux-gnu STRIP_BIN=aarch64-linux-gnu-strip
      ELF_TYPE=DYN RUNNER=qemu-aarch64 RUNNER_PKG=qemu-user QEMU_CPU_WANT=cortex-a53 ;;
    armv7-unknown-linux-gnueabihf)
      CC_BIN=arm-linux-gnueabihf-gcc CC_PKG=gcc-arm-linux-gnueabihf STRIP_BIN=arm-linux-gnueabihf-strip
      ELF_TYPE=EXEC RUNNER=qemu-arm RUNNER_PKG=qemu-user QEMU_CPU_WANT=cortex-a7 ;;
    arm-unknown-linux-gnueabi)
      CC_BIN=arm-linux-gnueabi-gcc CC_PKG=gcc-arm-linux-gnueabi STRIP_BIN=arm-linux-gnueabi-strip
      ELF_TYPE=EXEC RUNNER=qemu-arm RUNNER_PKG=qemu-user QEMU_CPU_WANT=arm1176
      TOOLCHAIN=nightly BUILD_STD=yes ;;
    x86_64-unknown-linux-musl)
      CC_BIN=gcc CC_PKG=gcc STRIP_BIN=strip ELF_TYPE=DYN ;;
    arm-unknown-linux-gnueabihf)
      die "arm-unknown-linux-gnueabihf is not offered: rustup has no std for it here (404), and with
  nightly -Z build-std it links Debian's armhf glibc, which is ARMv7/Thumb-2 code: the result dies
  with SIGILL on an ARMv6 CPU (qemu-arm -cpu arm1176). For a Pi Zero / Pi 1 build
  arm-unknown-linux-gnueabi instead (see cross/README.md)." ;;
    *) die "unknown target '$1'; known: $ALL_TARGETS arm-unknown-linux-gnueabi" ;;
  esac
}

bin_path() { echo "$TARGET_DIR/$1/release/$BIN_NAME"; }

# stripped_size BIN: the size in bytes of BIN without symbols (strips a copy if needed).
stripped_size() {
  local bin=$1
  if readelf -S "$bin" 2>/dev/null | grep -q '\.symtab'; then
    local tmp; tmp=$(mktemp)
    if command -v "$STRIP_BIN" >/dev/null; then "$STRIP_BIN" -o "$tmp" "$bin"
    else "$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-objcopy" --strip-all "$bin" "$tmp"; fi
    stat -c %s "$tmp"; rm -f "$tmp"
  else
    stat -c %s "$bin"
  fi
}

# check_static BIN WANT_TYPE: no PT_INTERP, no DT_NEEDED, ELF type WANT_TYPE (DYN = static-PIE).
check_static() {
  local bin=$1 want=$2 ok=0 type
  type=$(readelf -h "$bin" | awk '/^ *Type:/{print $2}')
  echo "  readelf -h: Type: $(readelf -h "$bin" | sed -n 's/^ *Type: *//p')"
  if [ "$type" != "$want" ]; then
    echo "  FAIL: ELF type $type, expected $want"; ok=1
  fi
  if readelf -lW "$bin" | grep -q 'INTERP'; then
    echo "  FAIL: has a program interpreter: $(readelf -lW "$bin" | grep -o 'interpreter: [^]]*')"; ok=1
  else
    echo "  readelf -l: no INTERP"
  fi
  if readelf -dW "$bin" | grep -q '(NEEDED)'; then
    echo "  FAIL: needs shared libraries:"; readelf -dW "$bin" | grep '(NEEDED)'; ok=1
  else
    echo "  readelf -d: no NEEDED"
  fi
  if [ "$want" = DYN ]; then
    if readelf -dW "$bin" | grep -q 'FLAGS_1.*PIE'; then echo "  readelf -d: FLAGS_1 PIE (static-PIE)"
    else echo "  FAIL: no DT_FLAGS_1 PIE"; ok=1; fi
  fi
  return $ok
}
