// The IPC messages between the GUI (user) and the tunnel service (root), both ways validated with zod
// (Firezone `gui-client/src-common/src/ipc` + `tunnel-service` messages). Every frame is one JSON object
// `{type, ...}`; unknown types and extra keys are refused.
import { z } from 'zod';

export const AdvancedSettingsSchema = z
  .object({
    /** Where the sign-in page is (http(s)). */
    authUrl: z.url({ protocol: /^https?$/ }),
    /** The portal's websocket base (ws(s) or http(s)). */
    apiUrl: z.url({ protocol: /^(wss?|https?)$/ }),
    /** A log filter directive such as `info,tunnel=debug`. */
    logFilter: z.string().min(1).max(1000),
  })
  .strict();
export type AdvancedSettings = z.infer<typeof AdvancedSettingsSchema>;

export const ResourceSchema = z
  .object({
    id: z.string().max(200),
    type: z.enum(['cidr', 'dns', 'internet']),
    name: z.string().max(1000),
    address: z.string().max(1000).optional(),
    siteIds: z.array(z.string().max(200)).max(100),
    status: z.enum(['unknown', 'connecting', 'connected']),
  })
  .strict();
export type IpcResource = z.infer<typeof ResourceSchema>;

const token = z.string().min(1).max(4096);

export const GuiToServiceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('Connect'), token, internetResourceActive: z.boolean() }).strict(),
  z.object({ type: z.literal('Disconnect') }).strict(),
  z.object({ type: z.literal('SetInternetResourceState'), active: z.boolean() }).strict(),
  z.object({ type: z.literal('ApplyAdvancedSettings'), settings: AdvancedSettingsSchema }).strict(),
  z
    .object({
      type: z.literal('StartTelemetry'),
      environment: z.string().min(1).max(100),
      release: z.string().min(1).max(200),
      accountSlug: z.string().max(200).optional(),
    })
    .strict(),
  z.object({ type: z.literal('ClearLogs') }).strict(),
]);
export type GuiToService = z.infer<typeof GuiToServiceSchema>;

export const SESSION_STATES = ['Idle', 'Connecting', 'WaitingForNetwork', 'Connected'] as const;
export type SessionStateName = (typeof SESSION_STATES)[number];

const errorText = z.string().max(4000);

export const ServiceToGuiSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('Hello'),
      deviceId: z.string().min(1).max(200),
      settings: AdvancedSettingsSchema,
      /** The session as it is now: a GUI that reconnects (e.g. after a crash) sees the current state. */
      state: z.enum(SESSION_STATES),
      internetResourceActive: z.boolean(),
      resources: z.array(ResourceSchema).max(10_000),
      version: z.string().max(200),
    })
    .strict(),
  z.object({ type: z.literal('ConnectResult'), ok: z.boolean(), error: errorText.optional(), state: z.enum(SESSION_STATES) }).strict(),
  z.object({ type: z.literal('SessionState'), state: z.enum(SESSION_STATES) }).strict(),
  z.object({ type: z.literal('OnUpdateResources'), resources: z.array(ResourceSchema).max(10_000) }).strict(),
  z.object({ type: z.literal('OnDisconnect'), error: errorText, requiresSignIn: z.boolean() }).strict(),
  z.object({ type: z.literal('DisconnectedGracefully') }).strict(),
  z.object({ type: z.literal('AllGatewaysOffline') }).strict(),
  z.object({ type: z.literal('SettingsApplied'), settings: AdvancedSettingsSchema }).strict(),
  z.object({ type: z.literal('ClearedLogs'), ok: z.boolean(), error: errorText.optional() }).strict(),
  z.object({ type: z.literal('TerminatingGracefully') }).strict(),
  /** A frame the service could not accept (malformed, invalid, or a second GUI). */
  z.object({ type: z.literal('Error'), code: z.string().max(100), message: errorText }).strict(),
]);
export type ServiceToGui = z.infer<typeof ServiceToGuiSchema>;

export type IpcErrorCode = 'MALFORMED_FRAME' | 'INVALID_MESSAGE' | 'FRAME_TOO_LARGE' | 'ALREADY_CONNECTED' | 'NOT_CONNECTED' | 'CLOSED' | 'SOCKET_FAILED';

export class IpcError extends Error {
  override readonly name = 'IpcError';
  constructor(
    readonly code: IpcErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
