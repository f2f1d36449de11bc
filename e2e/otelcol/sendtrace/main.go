// sendtrace sends one span to an OTLP endpoint with the OpenTelemetry Go SDK
// and prints its trace id, to check a running zen-otelcol end to end.
//
//	go run ./e2e/otelcol/sendtrace -protocol grpc -endpoint 127.0.0.1:$OTLP_GRPC_PORT
//	go run ./e2e/otelcol/sendtrace -protocol http -endpoint 127.0.0.1:$OTLP_HTTP_PORT
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	protocol := flag.String("protocol", "grpc", "grpc or http")
	endpoint := flag.String("endpoint", "", "host:port of the collector's OTLP receiver")
	name := flag.String("name", "sendtrace", "span name")
	service := flag.String("service", "sendtrace", "service.name of the resource")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "sendtrace: -endpoint is required")
		os.Exit(2)
	}
	if err := run(*protocol, *endpoint, *name, *service); err != nil {
		fmt.Fprintln(os.Stderr, "sendtrace:", err)
		os.Exit(1)
	}
}

func run(protocol, endpoint, name, service string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var (
		exp *otlptrace.Exporter
		err error
	)
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	case "http":
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	default:
		return fmt.Errorf("unknown -protocol %q (want grpc or http)", protocol)
	}
	if err != nil {
		return err
	}

	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(exp), // export on span end; errors surface in Shutdown
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	_, span := tp.Tracer("zen-watcher/e2e/sendtrace").Start(ctx, name)
	span.SetAttributes(attribute.String("sendtrace.protocol", protocol))
	traceID := span.SpanContext().TraceID().String()
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Println(traceID)
	return nil
}
