package agent

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Config selects the S3 endpoint backups are read from.
type S3Config struct {
	Region   string
	Endpoint string // override (moto, MinIO); empty for AWS
}

// NewS3 returns an S3 client from the default credential chain, with path-style addressing
// when an endpoint override is set.
func NewS3(ctx context.Context, c S3Config) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(c.Region))
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
	}), nil
}
