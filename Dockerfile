# App image for clickstream (producer, workers, reader, topic admin).
FROM node:20-bookworm

# Build deps for librdkafka; only used if the @confluentinc/kafka-javascript
# prebuilt binary cannot be downloaded and node-gyp has to compile it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev \
      libcurl4-openssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci

COPY . .
RUN npm run build

ENTRYPOINT ["/app/bin/clickstream"]
