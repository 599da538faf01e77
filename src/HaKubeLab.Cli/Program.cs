using System.CommandLine;
using HaKubeLab.Cli;

var root = new RootCommand("HaKubeLab: rehearse the runbook's HA Kubernetes control plane (haproxy + keepalived + kubeadm) on one machine, and measure how it fails over.");
foreach (var command in LabCommands.All()) root.Add(command);
return await root.Parse(args).InvokeAsync();
