/** The broker layer (spec section 10): routes between players by the `@` meta. */
export { SdBroker, listenBroker } from './broker.js';
export { BROKER_DEFAULTS, BrokerAlarmCodes, type BrokerAuthorize, type BrokerOptions } from './broker-options.js';
