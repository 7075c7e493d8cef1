#!/usr/bin/env bash
# Installs the camera box's systemd units (units/README.md, "Camera box"): the capture and
# sender services, the arming timer and target, the udev rule, the service users and an
# environment file for the sender's options. Run as root for system units, or with --user.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install-sender-units.sh [options]

  --to HOST:PORT     the receiver (written to the sender's environment file if it is new)
  --camera NAME      the camera name frames are stored under (idem)
  --vendor ID        the camera's USB vendor id for the udev rule (lsusb), e.g. 046d
  --product ID       the camera's USB product id, e.g. 0825
  --timer            deliver with surveillance-sender-once.timer instead of the daemon
  --bin COMMAND      the sender command for ExecStart= (default: surveillance-sender on
                     PATH, else node and this checkout's packages/sender/bin)
  --user             install per-user units (~/.config/systemd/user); the udev rule is
                     then printed for root to install
  --root DIR         install into DIR as if it were / (an image, or a test); nothing is
                     started or reloaded
  --dry-run          show what would be done, change nothing
  -h, --help         this text
EOF
}

fail() {
  echo "install-sender-units: $*" >&2
  exit 64
}

MODE=system DRY=0 ROOT='' BIN='' TO='' CAMERA='' VENDOR='' PRODUCT='' VARIANT=watch
while [ $# -gt 0 ]; do
  case "$1" in
    --user) MODE=user ;;
    --dry-run) DRY=1 ;;
    --timer) VARIANT=timer ;;
    --root | --bin | --to | --camera | --vendor | --product)
      [ $# -ge 2 ] && [ -n "$2" ] || fail "option $1 needs a value"
      case "$1" in
        --root) ROOT=$(realpath -m -- "$2") ;;
        --bin) BIN=$2 ;;
        --to) TO=$2 ;;
        --camera) CAMERA=$2 ;;
        --vendor) VENDOR=$2 ;;
        --product) PRODUCT=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
  shift
done

for id in "$VENDOR" "$PRODUCT"; do
  [ -z "$id" ] || [[ "$id" =~ ^[0-9a-fA-F]{4}$ ]] || fail "USB ids are 4 hex digits, like 046d; got '$id'"
done
[ -z "$TO" ] || [[ "$TO" =~ ^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$ ]] || fail "--to must be HOST:PORT; got '$TO'"
[ -z "$CAMERA" ] || [[ "$CAMERA" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || fail "--camera must be 1-64 letters, digits, '.', '_' or '-'; got '$CAMERA'"
[ "$MODE" = user ] || [ -n "$ROOT" ] || [ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || fail "system units need root; use --user, --root DIR or --dry-run"

REPO=$(cd "$(dirname "$0")/.." && pwd)
UNITS="$REPO/units"
if [ -z "$BIN" ]; then
  if command -v surveillance-sender >/dev/null; then
    BIN=$(command -v surveillance-sender)
  else
    BIN="$(command -v node || echo /usr/bin/node) $REPO/packages/sender/bin/surveillance-sender.js"
    [ -f "$REPO/packages/sender/dist/cli.js" ] || echo "note: build the sender first: node scripts/build.mjs sender" >&2
  fi
fi
case "$BIN" in
  /home/* | /root/* | *" /home/"* | *" /root/"*)
    [ "$MODE" = user ] || echo "warning: $BIN is below /home or /root, which ProtectHome=yes hides from the service; install the sender elsewhere (e.g. /opt) or use --user" >&2 ;;
esac

if [ "$MODE" = system ]; then
  UNIT_DIR="$ROOT/etc/systemd/system"
  CONF_DIR="$ROOT/etc/surveillance"
  RULES_DIR="$ROOT/etc/udev/rules.d"
  SYSUSERS_DIR="$ROOT/etc/sysusers.d"
  SYSTEMCTL=(systemctl)
else
  CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
  UNIT_DIR="$ROOT$CONFIG_HOME/systemd/user"
  CONF_DIR="$ROOT$CONFIG_HOME/surveillance"
  SYSTEMCTL=(systemctl --user)
fi
[ -z "$ROOT" ] || SYSTEMCTL+=("--root=$ROOT")

# run and put (scripts/lib/install-common.sh)
# shellcheck source=lib/install-common.sh
. "$(dirname "$0")/lib/install-common.sh"

# A unit as the target system needs it: the sender command filled in; per-user units run as
# the user themselves, so they name no service users.
unit_text() {
  local sedscript=("-e" "s|/usr/local/bin/surveillance-sender|$BIN|")
  if [ "$MODE" = user ]; then
    sedscript+=(-e '/^\(User\|Group\|SupplementaryGroups\)=/d')
  fi
  sed "${sedscript[@]}" "$UNITS/$1"
}

rule_text() {
  local sedscript=()
  [ -z "$VENDOR" ] || sedscript+=(-e "s/ATTRS{idVendor}==\"[0-9a-fA-F]*\"/ATTRS{idVendor}==\"$VENDOR\"/")
  [ -z "$PRODUCT" ] || sedscript+=(-e "s/ATTRS{idProduct}==\"[0-9a-fA-F]*\"/ATTRS{idProduct}==\"$PRODUCT\"/")
  [ "$MODE" = system ] || sedscript+=(-e 's/ENV{SYSTEMD_WANTS}/ENV{SYSTEMD_USER_WANTS}/')
  sed "${sedscript[@]:-s/^//}" "$UNITS/99-surveillance-camera.rules"
}

UNIT_FILES=(surveillance-camera.target surveillance-camera-arm.timer surveillance-capture.service
  surveillance-sender.service surveillance-sender-once.service surveillance-sender-once.timer)
for unit in "${UNIT_FILES[@]}"; do
  unit_text "$unit" | put "$UNIT_DIR/$unit" 0644
done

if [ -e "$CONF_DIR/sender.env" ]; then
  echo "keeping $CONF_DIR/sender.env"
else
  sed -e "${TO:+s|^SURVEILLANCE_TO=.*|SURVEILLANCE_TO=$TO|}" -e "${CAMERA:+s|^SURVEILLANCE_CAMERA=.*|SURVEILLANCE_CAMERA=$CAMERA|}" \
    "$UNITS/sender.env.example" | put "$CONF_DIR/sender.env" 0640
  [ -n "$TO" ] || echo "note: set SURVEILLANCE_TO (the receiver) in $CONF_DIR/sender.env" >&2
fi

if [ "$MODE" = system ]; then
  put "$SYSUSERS_DIR/surveillance-camera.conf" 0644 <"$UNITS/surveillance-camera.sysusers.conf"
  rule_text | put "$RULES_DIR/99-surveillance-camera.rules" 0644
  if [ -n "$ROOT" ]; then
    run systemd-sysusers "--root=$ROOT" "$SYSUSERS_DIR/surveillance-camera.conf"
  else
    run systemd-sysusers "$SYSUSERS_DIR/surveillance-camera.conf"
    run udevadm control --reload
    run udevadm trigger --action=change --subsystem-match=video4linux
  fi
else
  echo "The udev rule needs root; install it with:"
  echo "  sudo tee /etc/udev/rules.d/99-surveillance-camera.rules <<'RULE'"
  rule_text | sed 's/^/  /'
  echo "  RULE"
  echo "  sudo udevadm control --reload && sudo udevadm trigger --action=change --subsystem-match=video4linux"
fi

# systemctl cannot enable per-user units below another root: make the links it would make.
enable_units() {
  if [ "$MODE" = user ] && [ -n "$ROOT" ]; then
    for unit in "$@"; do
      run mkdir -p "$UNIT_DIR/surveillance-camera.target.wants"
      run ln -sfn "../$unit" "$UNIT_DIR/surveillance-camera.target.wants/$unit"
    done
  else
    run "${SYSTEMCTL[@]}" enable "$@"
  fi
}
disable_units() {
  if [ "$MODE" = user ] && [ -n "$ROOT" ]; then
    for unit in "$@"; do run rm -f "$UNIT_DIR/surveillance-camera.target.wants/$unit"; done
  else
    run "${SYSTEMCTL[@]}" disable "$@"
  fi
}

[ -n "$ROOT" ] || run "${SYSTEMCTL[@]}" daemon-reload
if [ "$VARIANT" = timer ]; then
  disable_units surveillance-sender.service
  enable_units surveillance-capture.service surveillance-sender-once.timer
else
  disable_units surveillance-sender-once.timer
  enable_units surveillance-capture.service surveillance-sender.service
fi

if [ "$MODE" = system ]; then
  SPOOL=/var/lib/surveillance-sender
else
  SPOOL="$CONFIG_HOME/surveillance-sender (systemd 254 and later: ${XDG_STATE_HOME:-$HOME/.local/state}/surveillance-sender)"
fi
cat <<EOF
Done. Plug the camera in: a minute later surveillance-camera.target starts capture and sender.
Check with: ${SYSTEMCTL[*]} status surveillance-camera.target
            surveillance-sender status --spool $SPOOL
EOF
