# Debian package checks for scripts/setup.sh, sourced (and tested by tests/unit/test_setup_script.py).
# Never pipe a command into `grep -q` here: under `set -o pipefail` the pipeline fails with 141
# whenever grep stops reading before the writer has finished (SIGPIPE), and the answer is a lie.
# Each command's output is taken whole first, then matched in bash.

# apt_has_candidate PKG: Debian's lists offer PKG as a deb (Ubuntu's snap-only chromium has none).
apt_has_candidate() {
  local policy
  policy="$(apt-cache policy "$1" 2>/dev/null || true)"
  [[ "$policy" =~ Candidate:\ [0-9] ]]
}

# apt_is_installed PKG: PKG, or its Ubuntu 24.04 t64-renamed twin, is installed.
apt_is_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}\n' "$1" "${1}t64" 2>/dev/null || true)"
  [[ "$status" == *"install ok installed"* ]]
}
