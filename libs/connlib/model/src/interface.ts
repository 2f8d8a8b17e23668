// Interface configuration (tunnel IPs, DNS) and the shared config blocks of `init`.
import { z } from 'zod';

/** Legacy upstream list: `{protocol: "ip_port", address: "1.1.1.1:53"}`. */
export const UpstreamDnsSchema = z.object({ protocol: z.literal('ip_port'), address: z.string() });
export const UpstreamDo53Schema = z.object({ ip: z.string() });
export const UpstreamDohSchema = z.object({ url: z.string() });

export const ClientInterfaceSchema = z.object({
  ipv4: z.string(),
  ipv6: z.string(),
  upstream_dns: z.array(UpstreamDnsSchema).default([]),
  upstream_do53: z.array(UpstreamDo53Schema).default([]),
  upstream_doh: z.array(UpstreamDohSchema).default([]),
  search_domain: z.string().nullable().optional(),
});
export type ClientInterface = z.output<typeof ClientInterfaceSchema>;
export type ClientInterfaceWire = z.input<typeof ClientInterfaceSchema>;

export const GatewayInterfaceSchema = z.object({ ipv4: z.string(), ipv6: z.string() });
export type GatewayInterface = z.infer<typeof GatewayInterfaceSchema>;

/** Flow-log upload settings (required in `init`); unknown fields ignored; uploads on iff interval > 0. */
export const FlowLogsConfigSchema = z
  .object({
    api_url: z.string(),
    upload_interval_secs: z.number().int().nonnegative(),
    upload_batch_size: z.number().int().nonnegative(),
  })
  .transform((v) => ({ ...v, upload_enabled: v.upload_interval_secs > 0 }));
export type FlowLogsConfig = z.output<typeof FlowLogsConfigSchema>;
export type FlowLogsConfigWire = z.input<typeof FlowLogsConfigSchema>;

export const GatewayConfigSchema = z.object({
  ipv4_masquerade_enabled: z.boolean(),
  ipv6_masquerade_enabled: z.boolean(),
});
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

/** `set_snownet_capabilities`: `{}` means `{iceless: false}`; unknown capabilities ignored. */
export const SnownetCapabilitiesSchema = z.object({ iceless: z.boolean().default(false) });
export type SnownetCapabilities = z.output<typeof SnownetCapabilitiesSchema>;
