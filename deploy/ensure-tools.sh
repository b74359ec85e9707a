#!/usr/bin/env bash
# Installs the system tools the test suite starts for real (none mocked):
# Java 17 and Maven for Apache Kafka (jars from Maven Central), Debian's
# Prometheus (with promtool) and Alertmanager, openssl, ss and Chromium. Idempotent.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v openssl >/dev/null || need+=(openssl)    # test certificates for the SASL_SSL listener
command -v ss >/dev/null || need+=(iproute2)        # the loopback-listeners check
command -v chromium >/dev/null || need+=(chromium)  # the report, rendered as a person sees it
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Resolve the Kafka jars once (cached under ~/.cache/affectwatch/kafka).
"${PYTHON:-.venv/bin/python}" -m streams.kafka.localkafka jars >/dev/null
# docker-compose (the Python one, 1.29.2) in a venv of its own, to check the
# compose file as Compose reads it; its PyYAML<6 pin is only for old Pythons
# (PyYAML 5 no longer builds), so its dependencies are named here.
if [ ! -x .venv-compose/bin/docker-compose ]; then
  python3 -m venv .venv-compose
  .venv-compose/bin/pip install -q --no-deps docker-compose==1.29.2
  .venv-compose/bin/pip install -q "docker>=5,<7" dockerpty docopt "jsonschema<4" "python-dotenv<1" requests \
    texttable "websocket-client<1" PyYAML distro "urllib3<2"
fi
