// Command vault builds the HashiCorp Vault server that verwerker's tests run
// as a dev server (deploy/vault.sh). It is a separate tools module so the
// main module never depends on Vault's server code; only its API client.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
