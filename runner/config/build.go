package config

// Build configures building. It belongs to the build work, which adds its
// keys here; until then [build] accepts no keys.
type Build struct{}

func (s *Build) validate(p *Problems) {}
