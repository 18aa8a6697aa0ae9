package app

// StoreOptions exposes storeOptions to the external tests.
var StoreOptions = storeOptions
