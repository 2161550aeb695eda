# shellcheck shell=bash
# bubblewrap (bwrap): the local provider runs every dev-server command inside it and refuses commands without it, so
# the command-mode and isolation tests need it. Idempotent; sourced by .ci/run, so `return`, never `exit`.
if ! command -v bwrap >/dev/null 2>&1; then
  echo "bubblewrap: installing with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } >/dev/null 2>&1 \
    || { echo "bubblewrap: apt-get install bubblewrap failed"; return 1; }
fi
bwrap --unshare-user --unshare-pid --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
  /bin/true >/dev/null 2>&1 \
  || { echo "bubblewrap: installed but cannot create namespaces here (user namespaces disabled?)"; return 1; }
echo "bubblewrap $(bwrap --version | cut -d' ' -f2): namespaces work"
