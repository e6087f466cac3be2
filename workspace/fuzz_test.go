package workspace

import (
	"strings"
	"testing"
)

// FuzzParseConfig feeds config-file parsing arbitrary bytes. It must never
// panic; a success names a whole workspace; an error names the file.
// Seeds: testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"subscription_id":"s","resource_group":"rg","workspace_name":"w"}`,
		"\xef\xbb\xbf" + `{"subscription_id":"s","resource_group":"rg","workspace_name":"w","key_vault":"kv"}`,
		`{"Scope":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"}`,
		`{"Scope":"/subscriptions//resourceGroups"}`,
		`{"subscription_id":1}`, `null`, `[]`, `{`, "{\n\"a\":\n", ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "/cfg/config.json"
		w, err := parseConfig(file, data)
		if err != nil {
			if !strings.Contains(err.Error(), file) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if w.SubscriptionID == "" || w.ResourceGroup == "" || w.Name == "" {
			t.Fatalf("parsed an incomplete workspace: %+v", w)
		}
		if id := w.ARMID(); id != "" {
			if s, rg, n, err := ParseARMID(id); err != nil || s != w.SubscriptionID || rg != w.ResourceGroup || n != w.Name {
				t.Fatalf("ARMID %q does not round-trip: %v", id, err)
			}
		}
	})
}
