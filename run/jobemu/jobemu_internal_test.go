package jobemu

import "testing"

func TestValidConnName(t *testing.T) {
	for name, want := range map[string]bool{
		"openai": true, "my-conn_1.x": true, "A": true, "9lives": true,
		"": false, "-lead": false, "_lead": false, ".lead": false, "has space": false, "a/b": false, "é": false,
		string(make([]byte, 0)) + "a" + string(make([]byte, 254)): false,
	} {
		if got := validConnName(name); got != want {
			t.Errorf("validConnName(%q) = %v, want %v", name, got, want)
		}
	}
	long := make([]byte, 255)
	for i := range long {
		long[i] = 'a'
	}
	if !validConnName(string(long)) {
		t.Error("a 255-character name is valid")
	}
	if validConnName(string(long) + "a") {
		t.Error("a 256-character name is not")
	}
}
