#!/usr/bin/env bash
# Installs the receiver's systemd units (units/README.md, "Receiver (laptop)"): a snapshot of
# the built receiver with a surveillance-receiver command, the socket and service units of one
# mode, the service user and an example options file. Run as root for system units, or --user.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install-receiver-units.sh [options]

  --mode inetd|listener  inetd (default): surveillance.socket, one receiver process per
                         connection; listener: surveillance-listener.socket, one receiver for
                         all connections, started on the first and exiting when idle
  --port PORT            TCP port to listen on (default 4444)
  --address ADDR         listen on this address only, e.g. the laptop's LAN address
                         (default: all addresses)
  --open                 no pairing: the receiver takes frames from anyone who can connect,
                         in plaintext (the tutorial); by default it makes a key folder and
                         takes frames only over TLS from cameras paired with
                         surveillance-receiver camera add
  --user                 per-user units (~/.config/systemd/user), store in
                         ~/.local/state/surveillance, command in ~/.local/bin
  --root DIR             install into DIR as if it were / (an image, or a test); nothing is
                         started or reloaded
  --node PATH            the node binary the command runs (default: node on PATH)
  --store nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET
                         store frames in a NATS JetStream cluster instead of the state
                         folder (README "More than one machine"); HOSTs must be IP addresses,
                         which the units then allow (and nothing else)
  --nats-replicas N      copies JetStream keeps of each frame (3 in a cluster; default 1)
  --nats-password-file FILE, --nats-creds FILE, --nats-ca FILE
                         copied to the options folder (0600) and given to the units as
                         systemd credentials (LoadCredential=), never in argv or environment
  --no-start             install and enable, but do not (re)start the socket now
  --notify               also enable surveillance-notify.service (MQTT / Home Assistant,
                         webhook, ntfy; options in notify.env, secrets in notify.d/)
  --gallery              also enable surveillance-gallery.service, the web gallery on
                         127.0.0.1:8080 (options in gallery.env, password, token and HTTPS
                         certificate in gallery.d/; README "Review from a phone")
  --dry-run              show what would be done, change nothing
  -h, --help             this text

Needs the repository built first (pnpm install && pnpm build); pnpm from PATH or npx.
EOF
}

fail() {
  echo "install-receiver-units: $*" >&2
  exit 64
}

SCOPE=system MODE=inetd PORT=4444 ADDRESS='' DRY=0 ROOT='' NODE='' START=1 NOTIFY=0 GALLERY=0 OPEN=0
NATS_STORE='' NATS_REPLICAS='' NATS_PASSWORD='' NATS_CREDS='' NATS_CA=''
while [ $# -gt 0 ]; do
  case "$1" in
    --user) SCOPE=user ;;
    --dry-run) DRY=1 ;;
    --no-start) START=0 ;;
    --open) OPEN=1 ;;
    --notify) NOTIFY=1 ;;
    --gallery) GALLERY=1 ;;
    --mode | --port | --address | --root | --node | --store | --nats-replicas | --nats-password-file | --nats-creds | --nats-ca)
      [ $# -ge 2 ] && [ -n "$2" ] || fail "option $1 needs a value"
      case "$1" in
        --store) NATS_STORE=$2 ;;
        --nats-replicas) NATS_REPLICAS=$2 ;;
        --nats-password-file) NATS_PASSWORD=$2 ;;
        --nats-creds) NATS_CREDS=$2 ;;
        --nats-ca) NATS_CA=$2 ;;
        --mode) MODE=$2 ;;
        --port) PORT=$2 ;;
        --address) ADDRESS=$2 ;;
        --root) ROOT=$(realpath -m -- "$2") ;;
        --node) NODE=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
  shift
done

case "$MODE" in
  inetd) SOCKET=surveillance.socket OTHER_SOCKET=surveillance-listener.socket SERVICE=surveillance@.service ;;
  listener) SOCKET=surveillance-listener.socket OTHER_SOCKET=surveillance.socket SERVICE=surveillance-listener.service ;;
  *) fail "--mode must be inetd or listener; got '$MODE'" ;;
esac
[[ "$PORT" =~ ^[0-9]{1,5}$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || fail "--port must be a number from 1 to 65535; got '$PORT'"
if [ -n "$ADDRESS" ]; then
  if [[ "$ADDRESS" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
    LISTEN="$ADDRESS:$PORT"
  elif [[ "$ADDRESS" =~ ^\[?([0-9a-fA-F:]*:[0-9a-fA-F:.]*)\]?$ ]]; then
    LISTEN="[${BASH_REMATCH[1]}]:$PORT"
  else
    fail "--address must be an IPv4 or IPv6 address; got '$ADDRESS' (for an interface, see BindToDevice= in units/README.md)"
  fi
else
  LISTEN=$PORT
fi
NATS_IPS=''
if [ -n "$NATS_STORE" ]; then
  # The receiver checks the whole address when it starts; here only what the units need.
  [[ "$NATS_STORE" =~ ^(nats|tls)://([A-Za-z0-9._-]+@)?([^/@]+)/[A-Za-z0-9_-]+$ ]] || fail "--store must be nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET (no password in it); got '$NATS_STORE'"
  IFS=, read -ra NATS_HOSTS <<<"${BASH_REMATCH[3]}"
  for h in "${NATS_HOSTS[@]}"; do
    if [[ "$h" =~ ^([0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,5}$ ]] || [[ "$h" =~ ^\[([0-9a-fA-F:.]+)\]:[0-9]{1,5}$ ]]; then
      NATS_IPS="$NATS_IPS ${BASH_REMATCH[1]}"
    else
      fail "--store: '$h' is not IP:PORT; the units allow the cluster by address (IPAddressAllow=), so name its servers by IP"
    fi
  done
  if [[ "$NATS_STORE" =~ ^[a-z]+://[A-Za-z0-9._-]+@ ]] && [ -z "$NATS_PASSWORD" ]; then fail "--store names a user: give its password with --nats-password-file FILE"; fi
  if [ -n "$NATS_REPLICAS" ]; then [[ "$NATS_REPLICAS" =~ ^[1-5]$ ]] || fail "--nats-replicas must be 1 to 5; got '$NATS_REPLICAS'"; fi
  for f in "$NATS_PASSWORD" "$NATS_CREDS" "$NATS_CA"; do [ -z "$f" ] || [ -r "$f" ] || fail "$f cannot be read"; done
elif [ -n "$NATS_REPLICAS$NATS_PASSWORD$NATS_CREDS$NATS_CA" ]; then
  fail "--nats-* options need --store nats://..."
fi
[ "$SCOPE" = user ] || [ -n "$ROOT" ] || [ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || fail "system units need root; use --user, --root DIR or --dry-run"

REPO=$(cd "$(dirname "$0")/.." && pwd)
PACKAGE="$REPO/packages/receiver"
UNITS="$REPO/units"
[ -f "$PACKAGE/dist/entry.cjs" ] && [ -f "$PACKAGE/dist/cli.js" ] || fail "the receiver is not built: run pnpm install && pnpm build in $REPO first"
# pnpm copies the receiver with its dependencies; the README's commands fetch it with npx.
if command -v pnpm >/dev/null; then PNPM=(pnpm); else PNPM=(npx --yes pnpm@10.34.9); fi
if [ -z "$NODE" ]; then
  NODE=$(command -v node) || fail "node is not on PATH; pass --node /path/to/node"
fi
[ -x "$NODE" ] || fail "--node $NODE is not an executable"
NODE_MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]') || fail "$NODE does not run"
[ "$NODE_MAJOR" -ge 20 ] || fail "$NODE is Node $NODE_MAJOR; the receiver needs Node 20 or later"
if [ "$SCOPE" = system ]; then
  case "$NODE" in
    /home/* | /root/* | /run/user/*) fail "$NODE is below /home, /root or /run/user, which ProtectHome=yes hides from the service; install Node system-wide (e.g. the nodejs package) or pass --node" ;;
  esac
fi
# The bin file's name comes from the package, so that a rename there needs no change here.
BIN_REL=$("$NODE" -p "require('$PACKAGE/package.json').bin['surveillance-receiver']")

if [ "$SCOPE" = system ]; then
  PREFIX=/usr/local
  UNIT_DIR=/etc/systemd/system
  CONF_DIR=/etc/surveillance
  STORE=/var/lib/surveillance
  SYSTEMCTL=(systemctl)
else
  CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
  PREFIX=$HOME/.local
  UNIT_DIR=$CONFIG_HOME/systemd/user
  CONF_DIR=$CONFIG_HOME/surveillance
  STORE=${XDG_STATE_HOME:-$HOME/.local/state}/surveillance
  SYSTEMCTL=(systemctl --user)
fi
LIB_DIR=$PREFIX/lib/surveillance-receiver
KEYS=$CONF_DIR/camera-keys
if [ "$SCOPE" = system ]; then SUDO_HINT='sudo '; else SUDO_HINT=''; fi
COMMAND=$PREFIX/bin/surveillance-receiver

# run and put (scripts/lib/install-common.sh)
# shellcheck source=lib/install-common.sh
. "$(dirname "$0")/lib/install-common.sh"

# The receiver and its production dependencies, copied (pnpm deploy) into
# LIB_DIR/<content hash>, with LIB_DIR/current pointing at it. A copy, not a link to this
# checkout: the service user may not read a home folder (and ProtectHome= hides it), and a
# rebuild here deletes the chunks that a connection starting at that moment would load. The
# previous copy stays until the next install, for receivers still running from it.
install_snapshot() {
  local lib=$ROOT$LIB_DIR version staging
  version=$(cd "$PACKAGE" && find package.json "$BIN_REL" dist "$REPO/pnpm-lock.yaml" -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-12)
  if [ "$DRY" = 1 ]; then
    printf '+ pnpm deploy surveillance-receiver to %s/%s (bin/, dist/, node_modules/)\n' "$lib" "$version"
    printf '+ ln -sfn %s %s/current\n' "$version" "$lib"
    return
  fi
  mkdir -p "$lib"
  local before
  before=$(readlink "$lib/current" 2>/dev/null || true)
  if [ "$before" = "$version" ] && [ -f "$lib/$version/$BIN_REL" ]; then
    echo "unchanged $lib/$version"
  else
    rm -rf "${lib:?}/$version" "$lib/.staging"
    staging="$lib/.staging"
    local log
    if ! log=$(cd "$REPO" && "${PNPM[@]}" --filter surveillance-receiver deploy --prod --legacy "$staging" 2>&1); then
      printf '%s\n' "$log" >&2
      fail "pnpm deploy failed (output above)"
    fi
    # Readable by the service user whatever the installing user's umask.
    chmod -R u+rwX,go+rX,go-w "$staging"
    mv "$staging" "$lib/$version"
    ln -sfn "$version" "$lib/.current"
    mv -T "$lib/.current" "$lib/current"
    echo "installed $lib/$version (the receiver and its dependencies)"
  fi
  # Whether the node the units run takes the copy's V8 code caches: a rejected or missing one
  # is otherwise silent, every connection just compiles from source. Without NODE_OPTIONS, as
  # systemd starts it (V8 flags there would change the verdict).
  env -u NODE_OPTIONS "$NODE" "$lib/$version/$BIN_REL" --version | sed -n '/^code cache: /p'
  local dir
  for dir in "$lib"/*/; do
    [ ! -L "${dir%/}" ] || continue
    dir=$(basename "$dir")
    [ "$dir" = "$version" ] || [ "$dir" = "$before" ] || rm -rf "${lib:?}/$dir"
  done
}

# The command systemd starts: node itself (exec), on the snapshot.
command_text() {
  cat <<EOF
#!/bin/sh
# Installed by $REPO/scripts/install-receiver-units.sh; run it again to update.
exec "$NODE" "$LIB_DIR/current/$BIN_REL" "\$@"
EOF
}

# A unit as this installation needs it: its command and its address. A user manager runs
# everything as the user, so per-user units name no service user, keep the store in the home
# folder (which ProtectHome= must then leave reachable), and leave out what needs privileges
# the user lacks: the eBPF address filter (ignored with a warning) and ProtectKernelLogs=
# (kernel logs need CAP_SYSLOG anyway; where /proc/kmsg is masked, as in containers, it fails
# every start).
unit_text() {
  local sedscript=(-e "s|^ExecStart=/usr/local/bin/surveillance-receiver|ExecStart=$COMMAND|")
  sedscript+=(-e "s|^ListenStream=4444\$|ListenStream=$LISTEN|")
  [ -z "$ADDRESS" ] || sedscript+=(-e "/^ListenStream=/a FreeBind=yes")
  if [ "$OPEN" = 1 ]; then
    sedscript+=(-e '/^# Paired cameras only/,/^LoadCredential=camera-keys:/d')
  elif [ "$SCOPE" = user ]; then
    # A user's own folder needs no credential: the user manager runs the receiver as its owner.
    sedscript+=(-e "s|^LoadCredential=camera-keys:.*|Environment=SURVEILLANCE_KEYS=$KEYS|")
  fi
  if [ "$SCOPE" = user ]; then
    sedscript+=(
      -e '/^\(User\|Group\|StateDirectoryMode\|IPAddressAllow\|IPAddressDeny\|ProtectKernelLogs\)=/d'
      -e '/^# Only the local network may connect/d'
      -e "s|^StateDirectory=surveillance\$|Environment=SURVEILLANCE_STORE=$STORE\\nReadWritePaths=$STORE|"
      -e 's|^ProtectHome=yes$|ProtectHome=read-only|'
      -e "s|^Environment=SURVEILLANCE_STORE=/var/lib/surveillance\$|Environment=SURVEILLANCE_STORE=$STORE|"
      -e "s|^ReadOnlyPaths=/var/lib/surveillance\$|ReadOnlyPaths=$STORE|"
      -e 's|^WantedBy=multi-user.target$|WantedBy=default.target|'
    )
  fi
  sedscript+=(-e "s|^LoadCredential=notify:/etc/surveillance/notify.d\$|LoadCredential=notify:$CONF_DIR/notify.d|")
  sedscript+=(-e "s|^LoadCredential=gallery:/etc/surveillance/gallery.d\$|LoadCredential=gallery:$CONF_DIR/gallery.d|")
  sed "${sedscript[@]}" "$UNITS/$1"
}

enable_socket() {
  if [ "$SCOPE" = user ] && [ -n "$ROOT" ]; then
    # systemctl cannot enable per-user units below another root: make the links it would make.
    run rm -f "$ROOT$UNIT_DIR/sockets.target.wants/$OTHER_SOCKET"
    run mkdir -p "$ROOT$UNIT_DIR/sockets.target.wants"
    run ln -sfn "$UNIT_DIR/$SOCKET" "$ROOT$UNIT_DIR/sockets.target.wants/$SOCKET"
  elif [ -n "$ROOT" ]; then
    run systemctl "--root=$ROOT" disable "$OTHER_SOCKET"
    run systemctl "--root=$ROOT" enable "$SOCKET"
  else
    run "${SYSTEMCTL[@]}" daemon-reload
    run "${SYSTEMCTL[@]}" disable --now "$OTHER_SOCKET"
    run "${SYSTEMCTL[@]}" enable "$SOCKET"
    # A restart, not a start: a socket already listening keeps its old address until then.
    # Receivers already started keep their connections.
    [ "$START" = 0 ] || run "${SYSTEMCTL[@]}" restart "$SOCKET"
  fi
}

# Enables (and, unless --no-start, starts) a unit; $2 is the .wants folder of per-user units
# below --root, where systemctl cannot enable them. Retention: surveillance-prune.timer runs
# `surveillance-receiver prune` daily (prune.env); the notifier only when asked (--notify).
enable_unit() {
  if [ "$SCOPE" = user ] && [ -n "$ROOT" ]; then
    run mkdir -p "$ROOT$UNIT_DIR/$2"
    run ln -sfn "$UNIT_DIR/$1" "$ROOT$UNIT_DIR/$2/$1"
  elif [ -n "$ROOT" ]; then
    run systemctl "--root=$ROOT" enable "$1"
  elif [ "$START" = 0 ]; then
    run "${SYSTEMCTL[@]}" enable "$1"
  else
    run "${SYSTEMCTL[@]}" enable --now "$1"
  fi
}

install_snapshot
command_text | put "$ROOT$COMMAND" 0755
for unit in surveillance.socket surveillance@.service surveillance-listener.socket surveillance-listener.service \
  surveillance-prune.service surveillance-prune.timer surveillance-notify.service surveillance-gallery.service; do
  unit_text "$unit" | sed "s|^EnvironmentFile=-/etc/surveillance/|EnvironmentFile=-$CONF_DIR/|" | put "$ROOT$UNIT_DIR/$unit" 0644
done
# Options files are the user's once installed: never overwritten.
for env in receiver prune notify gallery; do
  if [ -e "$ROOT$CONF_DIR/$env.env" ]; then
    echo "keeping $ROOT$CONF_DIR/$env.env"
  else
    put "$ROOT$CONF_DIR/$env.env" 0640 <"$UNITS/$env.env.example"
  fi
done

if [ "$SCOPE" = system ]; then
  put "$ROOT/etc/sysusers.d/surveillance.conf" 0644 <"$UNITS/surveillance.sysusers"
  run systemd-sysusers ${ROOT:+"--root=$ROOT"} "$ROOT/etc/sysusers.d/surveillance.conf"
  # The store exists before the first frame, as StateDirectory= would make it: the notifier
  # (which has no StateDirectory=, it only reads) can then start and watch an empty store.
  if [ ! -d "$ROOT$STORE" ]; then
    ids=$(awk -F: '$1 == "surveillance" { print $3 ":" $4 }' "$ROOT/etc/passwd" 2>/dev/null || true)
    run install -d -m 0750 ${ids:+-o "${ids%:*}" -g "${ids#*:}"} "$ROOT$STORE"
  fi
else
  # ReadWritePaths= needs the folder to exist before the first start.
  run mkdir -p -m 0750 "$ROOT$STORE"
fi
# The key folder: private to its owner (root, or the user), read by the receiver as a credential.
# install -d makes it or, when it exists (keys kept across installs), only sets its mode.
[ "$OPEN" = 1 ] || run install -d -m 0700 "$ROOT$KEYS"
# The notifier's credentials folder (LoadCredential=notify:...): only root reads it; systemd
# hands each file to the service. It must exist, or the unit does not start.
run mkdir -p -m 0700 "$ROOT$CONF_DIR/notify.d"
# The same for the gallery (LoadCredential=gallery:...): password, token, tls-cert, tls-key.
run mkdir -p -m 0700 "$ROOT$CONF_DIR/gallery.d"
# A NATS store: the receivers, prune, the notifier and the gallery get the address, the secrets
# as credentials, and the
# network they need to reach the cluster, which the units otherwise deny.
nats_dropin() {
  echo "# Installed by $REPO/scripts/install-receiver-units.sh --store: the store is a NATS cluster."
  echo "[Service]"
  echo "Environment=SURVEILLANCE_STORE=$NATS_STORE"
  [ -z "$NATS_REPLICAS" ] || echo "Environment=SURVEILLANCE_NATS_REPLICAS=$NATS_REPLICAS"
  [ -z "$NATS_PASSWORD" ] || echo "LoadCredential=nats-password:$CONF_DIR/nats-password"
  [ -z "$NATS_CREDS" ] || echo "LoadCredential=nats.creds:$CONF_DIR/nats.creds"
  [ -z "$NATS_CA" ] || echo "Environment=SURVEILLANCE_NATS_CA=$CONF_DIR/nats-ca.pem"
  echo "PrivateNetwork=no"
  echo "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"
  echo "IPAddressAllow=${NATS_IPS# }"
}
if [ -n "$NATS_STORE" ]; then
  # Copied with install, not put: a dry run must not print a secret.
  [ -z "$NATS_PASSWORD" ] || run install -D -m 0600 "$NATS_PASSWORD" "$ROOT$CONF_DIR/nats-password"
  [ -z "$NATS_CREDS" ] || run install -D -m 0600 "$NATS_CREDS" "$ROOT$CONF_DIR/nats.creds"
  [ -z "$NATS_CA" ] || run install -D -m 0644 "$NATS_CA" "$ROOT$CONF_DIR/nats-ca.pem"
  # The notifier too: it watches the store for new frames (its drop-in is there with or
  # without --notify, so that enabling it later finds the same store).
  for unit in surveillance@.service surveillance-listener.service surveillance-prune.service surveillance-notify.service surveillance-gallery.service; do
    nats_dropin | put "$ROOT$UNIT_DIR/$unit.d/nats.conf" 0644
  done
else
  for unit in surveillance@.service surveillance-listener.service surveillance-prune.service surveillance-notify.service surveillance-gallery.service; do
    [ ! -e "$ROOT$UNIT_DIR/$unit.d/nats.conf" ] || run rm -f "$ROOT$UNIT_DIR/$unit.d/nats.conf"
  done
fi
enable_socket
enable_unit surveillance-prune.timer timers.target.wants
[ "$NOTIFY" = 0 ] || enable_unit surveillance-notify.service default.target.wants
[ "$GALLERY" = 0 ] || enable_unit surveillance-gallery.service default.target.wants

if [ "$OPEN" = 1 ]; then
  echo "Open (--open): anyone who can connect may store frames, in plaintext; no key folder."
else
  echo "Paired cameras only, over TLS. Pair one:  ${SUDO_HINT}surveillance-receiver camera add NAME > NAME.key   (keys in $KEYS)"
fi
if [ "$GALLERY" = 1 ]; then
  echo "Gallery: surveillance-gallery.service on 127.0.0.1:8080 (options in $CONF_DIR/gallery.env)."
  echo "  Its password:  ${SUDO_HINT}surveillance-receiver serve --set-password --password-file $CONF_DIR/gallery.d/password"
  echo "  then ${SUDO_HINT}${SYSTEMCTL[*]} restart surveillance-gallery; HTTPS for other machines: README \"Review from a phone or another computer\""
fi
# Where frames go, for the summary: the cluster, or the folder and who owns it.
SHOWN_STORE=$STORE
[ "$SCOPE" = user ] || SHOWN_STORE="$STORE (user and group surveillance)"
[ -z "$NATS_STORE" ] || SHOWN_STORE="the NATS store $NATS_STORE"
if [ "$SCOPE" = system ]; then
  cat <<EOF
Done: $SOCKET listens on $LISTEN; frames go to $SHOWN_STORE.
  Read them as yourself:  sudo usermod -aG surveillance \$USER   (then log in again)
  Logs:                   journalctl -u '${SERVICE/@.service/@*}'
  Options:                $CONF_DIR/receiver.env
  Retention (daily):      $CONF_DIR/prune.env
  Open the port to your cameras in the firewall if you have one (units/README.md).
EOF
else
  cat <<EOF
Done: $SOCKET listens on $LISTEN; frames go to $SHOWN_STORE.
  Logs:     journalctl --user -u '${SERVICE/@.service/@*}'
  Options:  $CONF_DIR/receiver.env
  Retention (daily):  $CONF_DIR/prune.env
  To listen while you are logged out and after a reboot:  loginctl enable-linger \$USER
EOF
fi
