// The one place that reads the generated schema (src/api/schema.d.ts, made by
// `make schema`): every API shape the app uses is an alias of a schema
// component, never a hand-written copy (eslint.config.js enforces it).
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

export type { paths };
export type Lead = Schemas["LeadOutput"];
export type LeadPatch = Schemas["PatchedLeadUpdateInputRequest"];
export type LeadStatus = Schemas["StatusEnum"];
export type LeadActivity = Schemas["LeadActivityOutput"];
export type LeadPage = Schemas["PaginatedLeadOutputList"];
export type Agent = Schemas["AgentOutput"];
export type AgentCreate = Schemas["AgentCreateInputRequest"];
export type AgentPatch = Schemas["PatchedAgentUpdateInputRequest"];
export type ImportBatch = Schemas["ImportBatchOutput"];
export type ImportBatchSummary = Schemas["ImportBatchSummaryOutput"];
export type ImportRowError = Schemas["ImportErrorOutput"];
export type Distribution = Schemas["DistributionOutput"];
export type ExportJob = Schemas["ExportJobOutput"];
export type Me = Schemas["MeOutput"];
export type Role = Schemas["RoleEnum"];
export type ErrorEnvelope = Schemas["ErrorEnvelope"];

export const LEAD_STATUSES: readonly LeadStatus[] = ["new", "contacted", "qualified", "converted", "lost"];
export const OPEN_STATUSES: readonly LeadStatus[] = ["new", "contacted", "qualified"];
