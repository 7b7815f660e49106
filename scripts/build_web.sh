#!/usr/bin/env bash
# Builds the web app (frontend/ -> frontend/dist/), skipping quickly when nothing
# changed: `npm ci` runs only when package-lock.json changed, `npm run build`
# only when the sources did (a stamp named after their hash sits in dist/).
set -euo pipefail
cd "$(dirname "$0")/../frontend"

lock_sum=$(cksum < package-lock.json | cut -d' ' -f1)
if [ ! -f "node_modules/.leadline-ci-$lock_sum" ]; then
  echo "== npm ci (frontend/package-lock.json changed)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "node_modules/.leadline-ci-$lock_sum"
fi

src_sum=$(find src public index.html package-lock.json tsconfig.json vite.config.ts -type f -print0 \
  | sort -z | xargs -0 cksum | cksum | cut -d' ' -f1)
if [ -f "dist/.leadline-build-$src_sum" ] && [ -f dist/index.html ]; then
  echo "== web app is up to date (frontend/dist)"
  exit 0
fi
echo "== npm run build"
npm run build --silent
touch "dist/.leadline-build-$src_sum"
