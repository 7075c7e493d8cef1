#!/usr/bin/env bash
# Installs the camera box's systemd units (units/README.md, "Camera box"): the capture and
# sender services, the arming timer and target, the udev rule, the service users, an
# environment file for the sender's options and a surveillance-sender command. Run as root for
# system units, or with --user.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install-sender-units.sh [options]

  --to HOST:PORT     the receiver (written to the sender's environment file if it is new)
  --camera NAME      the camera name frames are stored under (idem)
  --vendor ID        the camera's USB vendor id for the udev rule (lsusb), e.g. 046d
  --product ID       the camera's USB product id, e.g. 0825
  --key FILE         the camera's key line (surveillance-receiver camera add NAME on the
                     receiver), installed as the sender's systemd credential camera-key:
                     frames then go over TLS to a paired receiver only. Without it the
                     sender talks plaintext, to an open receiver (--open there)
  --timer            deliver with surveillance-sender-once.timer instead of the daemon
  --bin COMMAND      the sender command for ExecStart= (default: a command installed as
                     /usr/local/bin/surveillance-sender, ~/.local/bin/ with --user, that
                     runs this checkout's packages/sender/bin with node)
  --user             install per-user units (~/.config/systemd/user), spool in
                     ~/.local/state/surveillance-sender; the udev rule is then printed for
                     root to install
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

MODE=system DRY=0 ROOT='' BIN='' TO='' CAMERA='' VENDOR='' PRODUCT='' VARIANT=watch KEY=''
while [ $# -gt 0 ]; do
  case "$1" in
    --user) MODE=user ;;
    --dry-run) DRY=1 ;;
    --timer) VARIANT=timer ;;
    --root | --bin | --to | --camera | --vendor | --product | --key)
      [ $# -ge 2 ] && [ -n "$2" ] || fail "option $1 needs a value"
      case "$1" in
        --root) ROOT=$(realpath -m -- "$2") ;;
        --bin) BIN=$2 ;;
        --to) TO=$2 ;;
        --camera) CAMERA=$2 ;;
        --vendor) VENDOR=$2 ;;
        --product) PRODUCT=$2 ;;
        --key) KEY=$2 ;;
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
if [ -n "$KEY" ]; then
  [ -r "$KEY" ] || fail "--key $KEY cannot be read"
  # One line, as camera add prints it; never echoed (the message names the file only).
  KEY_LINE=$(cat -- "$KEY")
  [[ "$KEY_LINE" =~ ^svk1\ ([A-Za-z0-9][A-Za-z0-9._-]{0,63})\ [0-9a-z]{1,16}\ [A-Za-z0-9_-]{43}$ ]] ||
    fail "--key $KEY is not a key line (one line 'svk1 CAMERA KEYID KEY' from surveillance-receiver camera add)"
  KEY_CAMERA=${BASH_REMATCH[1]}
  [ -z "$CAMERA" ] || [ "$CAMERA" = "$KEY_CAMERA" ] || fail "--camera $CAMERA, but --key $KEY is camera $KEY_CAMERA's: a camera stores under the name of its key"
  CAMERA=$KEY_CAMERA
fi
[ "$MODE" = user ] || [ -n "$ROOT" ] || [ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || fail "system units need root; use --user, --root DIR or --dry-run"

REPO=$(cd "$(dirname "$0")/.." && pwd)
UNITS="$REPO/units"

if [ "$MODE" = system ]; then
  PREFIX=/usr/local
  UNIT_DIR="$ROOT/etc/systemd/system"
  CONF_DIR="$ROOT/etc/surveillance"
  RULES_DIR="$ROOT/etc/udev/rules.d"
  SYSUSERS_DIR="$ROOT/etc/sysusers.d"
  SPOOL=/var/lib/surveillance-sender
  SYSTEMCTL=(systemctl)
else
  PREFIX=$HOME/.local
  CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
  UNIT_DIR="$ROOT$CONFIG_HOME/systemd/user"
  CONF_DIR="$ROOT$CONFIG_HOME/surveillance"
  SPOOL=${XDG_STATE_HOME:-$HOME/.local/state}/surveillance-sender
  SYSTEMCTL=(systemctl --user)
fi
[ -z "$ROOT" ] || SYSTEMCTL+=("--root=$ROOT")

# Without --bin: a surveillance-sender command that runs this checkout with node, named in the
# units and at hand for the admin (`surveillance-sender status`).
COMMAND=''
if [ -z "$BIN" ]; then
  NODE=$(command -v node) || fail "node is not on PATH; install Node 20 or later, or pass --bin COMMAND"
  COMMAND=$PREFIX/bin/surveillance-sender
  BIN=$COMMAND
  [ -f "$REPO/packages/sender/dist/cli.js" ] || echo "note: build the sender first: node scripts/build.mjs sender" >&2
  RUNS=("$NODE" "$REPO")
else
  RUNS=("$BIN")
fi
if [ "$MODE" = system ]; then
  for path in "${RUNS[@]}"; do
    case "$path" in
      /home/* | /root/* | /run/user/* | *" /home/"* | *" /root/"*)
        echo "warning: $path is below /home, /root or /run/user, which ProtectHome=yes hides from the service; install it elsewhere (e.g. /opt) or use --user" >&2 ;;
    esac
  done
fi

# run and put (scripts/lib/install-common.sh)
# shellcheck source=lib/install-common.sh
. "$(dirname "$0")/lib/install-common.sh"

# One word for sh, in single quotes, whatever the path holds.
sh_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}

command_text() {
  printf '#!/bin/sh\n# Installed by scripts/install-sender-units.sh; run it again to update.\n'
  printf 'exec %s %s "$@"\n' "$(sh_quote "$NODE")" "$(sh_quote "$REPO/packages/sender/bin/surveillance-sender.js")"
}

# A unit as the target system needs it: the sender command filled in. A user manager runs
# everything as the user, so per-user units name no service users, keep the spool in the home
# folder (which ProtectHome= must then leave reachable, as it must %t, /run/user/UID, where the
# picture is), run in a user namespace of their own (PrivateUsers=yes: there the user may drop
# capabilities and make the sandbox's namespaces), and leave out what needs privileges the user
# lacks (units/README.md, "Per-user units"): the eBPF address filter, ProtectKernelLogs=, and
# StateDirectory=, which systemd 252 puts below ~/.config. multi-user.target is the system's; a
# user's is default.target.
unit_text() {
  local sedscript=("-e" "s|/usr/local/bin/surveillance-sender|$BIN|")
  if [ -z "$KEY" ]; then
    sedscript+=(-e '/^# The camera.s key line from/,/^LoadCredential=camera-key:/d')
  else
    if [ "$MODE" = user ]; then
      # The user's own file: the user manager runs the sender as its owner, no credential needed.
      sedscript+=(-e "s|^LoadCredential=camera-key:.*|Environment=SURVEILLANCE_KEY=${CONF_DIR#"$ROOT"}/camera.key|")
    else
      sedscript+=(-e "s|^LoadCredential=camera-key:.*|LoadCredential=camera-key:${CONF_DIR#"$ROOT"}/camera.key|")
    fi
  fi
  if [ "$MODE" = user ]; then
    sedscript+=(
      -e '/^\(User\|Group\|SupplementaryGroups\|StateDirectoryMode\|IPAddressAllow\|IPAddressDeny\|ProtectKernelLogs\)=/d'
      -e "s|^StateDirectory=surveillance-sender\$|Environment=SURVEILLANCE_SPOOL=$SPOOL\\nReadWritePaths=$SPOOL|"
      -e 's|^ProtectHome=yes$|ProtectHome=read-only|'
      -e 's|^NoNewPrivileges=yes$|&\nPrivateUsers=yes|'
      -e 's|^WantedBy=multi-user\.target$|WantedBy=default.target|'
    )
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

[ -z "$COMMAND" ] || command_text | put "$ROOT$COMMAND" 0755
# The key: the installing user's (root's) alone; systemd hands the service a copy.
# Written under umask 077 (never readable by others, not even for a moment), never shown.
if [ -n "$KEY" ]; then
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (mode 0600, the key line of camera %s; not shown)\n' "$CONF_DIR/camera.key" "$KEY_CAMERA"
  else
    mkdir -p "$CONF_DIR"
    (umask 077 && cat -- "$KEY" >"$CONF_DIR/.camera.key.tmp" && mv -f "$CONF_DIR/.camera.key.tmp" "$CONF_DIR/camera.key")
    echo "installed $CONF_DIR/camera.key (camera $KEY_CAMERA)"
  fi
fi

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
  # ReadWritePaths= needs the folder to exist before the first start.
  run mkdir -p -m 0700 "$ROOT$SPOOL"
fi

if [ "$VARIANT" = timer ]; then
  DELIVER=surveillance-sender-once.timer OTHER=surveillance-sender.service
else
  DELIVER=surveillance-sender.service OTHER=surveillance-sender-once.timer
fi

# systemctl cannot enable per-user units below another root: make (and remove) the links it
# would, in the target of the unit's WantedBy=.
unlink_unit() {
  local link
  for link in "$UNIT_DIR"/*.wants/"$1"; do
    [ ! -L "$link" ] || run rm -f "$link"
  done
}
link_unit() {
  local target
  target=$(unit_text "$1" | sed -n 's/^WantedBy=//p')
  unlink_unit "$1"
  run mkdir -p "$UNIT_DIR/$target.wants"
  run ln -sfn "../$1" "$UNIT_DIR/$target.wants/$1"
}

# reenable, not enable: it also removes the links of an earlier install, which made the sender
# part of surveillance-camera.target.
if [ "$MODE" = user ] && [ -n "$ROOT" ]; then
  unlink_unit "$OTHER"
  link_unit surveillance-capture.service
  link_unit "$DELIVER"
elif [ -n "$ROOT" ]; then
  run "${SYSTEMCTL[@]}" disable "$OTHER"
  run "${SYSTEMCTL[@]}" reenable surveillance-capture.service "$DELIVER"
else
  run "${SYSTEMCTL[@]}" daemon-reload
  run "${SYSTEMCTL[@]}" disable --now "$OTHER"
  run "${SYSTEMCTL[@]}" reenable surveillance-capture.service "$DELIVER"
  # A restart, not a start: a sender already running picks up the new units and command.
  run "${SYSTEMCTL[@]}" restart "$DELIVER"
fi

# The spool is the service user's alone (mode 0700): status needs root for system units.
RECEIVER=$TO
[ -n "$RECEIVER" ] || [ ! -r "$CONF_DIR/sender.env" ] || RECEIVER=$(sed -n 's/^SURVEILLANCE_TO=//p' "$CONF_DIR/sender.env" | tail -n 1)
if [ "$MODE" = user ]; then
  STATUS=$BIN
elif [ -n "$COMMAND" ]; then
  STATUS="sudo surveillance-sender"
else
  STATUS="sudo $BIN"
fi
if [ -n "$ROOT" ]; then WHEN="from every boot of the system in $ROOT"; else WHEN="from now on and from every boot"; fi
cat <<EOF
Done. $DELIVER delivers $WHEN, camera or not.
Plug the camera in: a minute later surveillance-camera.target starts capture; unplugging it
stops capture only, and the frames spooled before still go out.
Check with: ${SYSTEMCTL[*]} status surveillance-camera.target $DELIVER
            $STATUS status --spool $SPOOL${RECEIVER:+ --to $RECEIVER}
EOF
