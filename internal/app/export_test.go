package app

// StoreOptions exposes storeOptions to the external tests.
var StoreOptions = storeOptions

// RequestLogWriter exposes requestLogWriter to the external tests.
var RequestLogWriter = requestLogWriter
