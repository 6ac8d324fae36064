import { answers, type Service, services } from '@outboxkit/test-services';

type Stop = () => Promise<void>;

/**
 * Where the servers come from, once for the whole run: the env URL when set; else the server on
 * its default loopback address when it answers; else a container started by testcontainers when a
 * Docker engine answers; else one sentence naming the variable to set. Workers inherit the URLs
 * through `process.env`.
 */
export default async function setup(): Promise<Stop> {
  const stops: Stop[] = [];
  for (const service of services) {
    // Set and not empty: the same rule as everything that reads these variables.
    if (process.env[service.variable]) continue;
    if (await answers(service.defaultUrl)) {
      process.env[service.variable] = service.defaultUrl;
      continue;
    }
    const started = await startContainer(service);
    if (!started) {
      throw new Error(
        `${service.name} is not reachable at ${service.defaultUrl} and no Docker engine answers: start it, or set ${service.variable}`,
      );
    }
    process.env[service.variable] = started.url;
    stops.push(started.stop);
  }
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}

async function startContainer(service: Service): Promise<{ url: string; stop: Stop } | undefined> {
  // Loaded only when needed: machines without Docker never touch testcontainers.
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  if (service.variable === 'OUTBOX_PG_URL') {
    const container = await new GenericContainer('postgres:15')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'test' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
      .start();
    return {
      url: `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/test`,
      stop: async () => void (await container.stop()),
    };
  }
  if (service.variable === 'OUTBOX_MYSQL_URL') {
    const container = await new GenericContainer('mariadb:10.11')
      .withEnvironment({ MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1', MARIADB_DATABASE: 'test' })
      .withExposedPorts(3306)
      .withWaitStrategy(Wait.forLogMessage(/ready for connections/, 2))
      .start();
    return {
      url: `mysql://root@${container.getHost()}:${container.getMappedPort(3306)}/test`,
      stop: async () => void (await container.stop()),
    };
  }
  const container = await new GenericContainer('nats:2.10')
    .withCommand(['-js'])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    stop: async () => void (await container.stop()),
  };
}
