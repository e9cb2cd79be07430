#!/usr/bin/env bash
# Installs every build, test and runtime dependency of twin from Debian 12 packages.
# Idempotent: packages already present are not reinstalled, and apt-get update runs only when
# something is missing. Needs root (or sudo) when it has anything to install.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev
  # libraries
  libzstd-dev libxxhash-dev nlohmann-json3-dev libcli11-dev libexpected-dev libboost-dev
  libspdlog-dev libfmt-dev libpcap-dev libnghttp2-dev
  libssl-dev libhyperscan-dev libre2-dev zlib1g-dev libbrotli-dev libyaml-cpp-dev
  libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # tools the tests, the demo and the benchmarks call
  curl zstd gzip brotli python3 procps bc util-linux openssl ca-certificates valgrind
  # scrub: protoc encodes and decodes the Protocol Buffers messages of the gRPC tests (with the
  # well-known types' .proto files, google/protobuf/timestamp.proto…, which libprotobuf-dev
  # ships), and Apache Thrift's C++ library the Thrift test's documents (oracles)
  protobuf-compiler libprotobuf-dev libthrift-dev
  # capture: real servers, clients, recorders and the oracle (tshark) the capture tests use
  tcpdump tshark nginx-light nghttp2-client nghttp2-server nghttp2-proxy wrk apache2-utils tcpflow
  iproute2 time
  # compare: the HTML report is opened in headless Chromium by a test; Apache Thrift's Python
  # library writes the Thrift answers of an end-to-end test
  chromium python3-thrift
  # pipelines: the CI templates are read by a test
  python3-yaml shellcheck
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
