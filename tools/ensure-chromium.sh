#!/usr/bin/env bash
# Best-effort install of Debian's chromium for the report's browser test.
# Never fails the caller: without chromium, that test skips with a reason.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report's browser test (apt-get)"
  if apt-get update -qq >/dev/null 2>&1 \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    exit 0
  fi
fi
echo "chromium not available: the report's browser test will be skipped"
exit 0
