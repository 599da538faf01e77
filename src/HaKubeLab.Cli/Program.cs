using System.CommandLine;
using HaKubeLab.Cli;

// The chaos runner follows each keepalived's log over Docker.DotNet streams, which block a pool thread each, beside
// probes that must run on time; on 2 cores the pool starts with 2 threads and grows slowly. This is the program's
// choice, not the library's: the library never changes process-wide settings for its callers.
ThreadPool.GetMinThreads(out var workers, out var io);
if (workers < 16) ThreadPool.SetMinThreads(16, io);

var root = new RootCommand("HaKubeLab: rehearse the runbook's HA Kubernetes control plane (haproxy + keepalived + kubeadm) on one machine, and measure how it fails over.");
foreach (var command in LabCommands.All()) root.Add(command);
return await root.Parse(args).InvokeAsync();
