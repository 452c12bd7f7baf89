"""Rule manifests (rules/<group>/<slug>.yaml), shipped inside the package."""
