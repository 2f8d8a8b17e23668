// Which Sentry environment a portal URL belongs to. Only Postern's official portals report by default;
// anything else is an on-prem install, where nothing is sent unless a DSN is configured explicitly.
// The domains are Postern's placeholders (postern.dev / postern-staging.dev): replace them with the real
// ones when the hosted service exists.

export type TelemetryEnvironment = 'production' | 'staging' | 'on-prem';

export const OFFICIAL_API_URLS: ReadonlyArray<{ readonly url: string; readonly environment: 'production' | 'staging' }> = [
  { url: 'wss://api.postern.dev', environment: 'production' },
  { url: 'https://api.postern.dev', environment: 'production' },
  { url: 'wss://api.postern-staging.dev', environment: 'staging' },
  { url: 'https://api.postern-staging.dev', environment: 'staging' },
];

/** Normalises a URL to `scheme://host[:port]` (lowercase, default ports and path dropped). */
function origin(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`.toLowerCase();
  } catch {
    return undefined;
  }
}

export function environmentForApiUrl(apiUrl: string): TelemetryEnvironment {
  const o = origin(apiUrl);
  if (o === undefined) return 'on-prem';
  for (const entry of OFFICIAL_API_URLS) if (origin(entry.url) === o) return entry.environment;
  return 'on-prem';
}
