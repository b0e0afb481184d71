package intune

import "testing"

// TestWithIdAttributeIsWithIDAttribute: the deprecated spelling still
// compiles and sets exactly what the new one sets.
func TestWithIdAttributeIsWithIDAttribute(t *testing.T) {
	for _, setting := range []string{"IdAttribute", "objectGUID", ""} {
		var newName, oldName LoginHandler
		WithIDAttribute(setting)(&newName)
		WithIdAttribute(setting)(&oldName)
		if newName.idAttribute != setting || oldName.idAttribute != setting {
			t.Errorf("setting %q: WithIDAttribute set %q, WithIdAttribute %q", setting, newName.idAttribute, oldName.idAttribute)
		}
	}
}
