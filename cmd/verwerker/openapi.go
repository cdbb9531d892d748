package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/verwerker/verwerker/api"
)

// printOpenAPI writes the OpenAPI document of the API.
func printOpenAPI(w io.Writer) error {
	b, err := json.MarshalIndent(api.New(api.Config{Version: version}, api.Deps{}).OpenAPI(), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
