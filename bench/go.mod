// The benchmark driver of `make bench` (docs/performance.md): a module of its
// own, so that its code and dependencies stay out of the product's module.
// It imports the product's internal packages through the replace below (its
// path lies under the product's, which Go's internal rule allows).
module github.com/praxiom/praxiom-api/bench

go 1.27.0

toolchain go1.27.3

require (
	github.com/go-jose/go-jose/v3 v3.0.5
	github.com/google/uuid v1.6.0
	github.com/jackc/pgx/v5 v5.12.0
	github.com/praxiom/praxiom-api v0.0.0
	github.com/svix/svix-webhooks v1.44.0
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gopkg.in/validator.v2 v2.0.1 // indirect
)

replace github.com/praxiom/praxiom-api => ../
