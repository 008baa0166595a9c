/** The broker layer (spec section 10): routes between players by the `@` meta. */
export { SdBroker, listenBroker, type PlayerStatus } from './broker.js';
export { BROKER_DEFAULTS, BrokerAlarmCodes, type BrokerAuthorize, type BrokerOptions } from './broker-options.js';
export type { EjectionReason } from './outlier-ejection.js';
