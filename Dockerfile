# A container for one CA node: the server with SoftHSM2 available for a PKCS#11 backend.
# The CA home (settings, registry, keys or token) lives in the /ca volume.
# What the server uses at run time (tests/unit/test_dockerfile.py checks the list): the
# system OpenSSL and its GOST engine (a GOST CA, GOST requests and OCSP CertIDs), SoftHSM2,
# and the DejaVu fonts of the paper copies and confirmation reports.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        softhsm2 openssl libengine-gost-openssl fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY protocols ./protocols
COPY hsm ./hsm
COPY config ./config
RUN pip install --no-cache-dir .

RUN useradd --system --home /ca ca && mkdir -p /ca && chown ca /ca
USER ca
VOLUME ["/ca"]
EXPOSE 8080

# Once: `docker run -v ca:/ca IMAGE init --home /ca --http 0.0.0.0:8080 --base-url http://ca.example`
# (base-url: where relying parties reach this node); then the default command serves.
ENTRYPOINT ["python", "-m", "server"]
CMD ["serve", "--home", "/ca", "--http", "0.0.0.0:8080"]
