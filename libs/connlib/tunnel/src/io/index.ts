export { Tunnel, TunnelLoopError, type DrivenState, type PortalChannel, type PortalChannelEvent, type TunnelOptions, type TunnelStats } from './tunnel';
