// Package deploycheck holds the tests that keep deploy/ deployable as shipped: every Kustomize
// overlay builds, decodes strictly against the Kubernetes API types, meets Pod Security
// "restricted", pins its images and carries config files that start clonebot (make
// deploy-check); and `clonebot serve` and `clonebot agent` start from exactly the files an
// overlay's ConfigMap carries. It has no code of its own: the Kubernetes API types are
// imported by its tests only, never by the clonebot binary.
package deploycheck
