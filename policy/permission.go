package policy

// Permissions, named resource:action. Every API operation declares exactly
// one of these (or is public).
const (
	PermTenantCreate    = "tenant:create"
	PermTenantList      = "tenant:list"
	PermTenantRead      = "tenant:read"
	PermTenantTerminate = "tenant:terminate"
	PermAuditRead       = "audit:read"
	PermUserCreate      = "user:create"
	PermUserDisable     = "user:disable"
	PermMemberRead      = "member:read"
	PermMemberManage    = "member:manage"
	PermKeyRead         = "apikey:read"
	PermKeyManage       = "apikey:manage"
	// PermDPAList lists a tenant's agreement versions: metadata only
	// (numbers, statuses, dates, hashes), no scope and no contacts.
	PermDPAList = "dpa:list"
	// PermDPARead reads versions in full, their documents and the record
	// of processing.
	PermDPARead = "dpa:read"
	// PermDPAWrite drafts, edits, offers, activates and terminates
	// versions: the processor's side.
	PermDPAWrite = "dpa:write"
	// PermDPAAccept accepts an offered version: the controller's side.
	PermDPAAccept = "dpa:accept"
	// PermSubprocessorRead reads the registry, the changes and every
	// customer's notices and objections: the DPO's view.
	PermSubprocessorRead = "subprocessor:read"
	// PermSubprocessorWrite registers subprocessors, proposes and withdraws
	// changes and resolves objections.
	PermSubprocessorWrite = "subprocessor:write"
	// PermSubprocessorList reads one customer's subprocessors, changes and
	// blocks.
	PermSubprocessorList = "subprocessor:list"
	// PermSubprocessorObject objects to a change: the controller's side.
	PermSubprocessorObject = "subprocessor:object"
	// PermWebhookManage sets a customer's webhook endpoint and rotates its
	// signing secret.
	PermWebhookManage = "webhook:manage"
	// PermOutboxRead reads delivery state: messages, their delivery logs and
	// the dead letters.
	PermOutboxRead = "outbox:read"
	// PermOutboxRetry sends a dead message again.
	PermOutboxRetry = "outbox:retry"
	// PermDecide asks for processing decisions before storing data: the
	// chat service of the tenant.
	PermDecide = "decision:make"
	// PermSubjectInstruct records the controller's instructions about a
	// data subject: restriction (GDPR Art. 18), objection (Art. 21).
	PermSubjectInstruct = "subject:instruct"
	// PermRecordWrite stores sealed chat and admin records, each decided
	// as POST /v1/decisions decides: the chat service of the tenant.
	PermRecordWrite = "records:write"
	// PermRecordExport exports all of a data subject's records, decrypted
	// (GDPR Art. 15, 20): the controller.
	PermRecordExport = "records:export"
	// PermRecordErase erases a data subject by crypto-shredding (GDPR Art.
	// 17): the controller.
	PermRecordErase = "records:erase"
	// PermTenantErase crypto-shreds a customer's data once its contract has
	// ended (GDPR Art. 28(3)(g): deletion at the choice of the controller):
	// platform admins, and the customer's controller_admin.
	PermTenantErase = "tenant:erase"
	// PermTenantEraseEarly instructs the erasure of a customer's data
	// before its contract ends (confirm: erase_before_contract_end): the
	// customer's own controller_admin only. No operation declares it; the
	// erasure checks it when the instruction is given.
	PermTenantEraseEarly = "tenant:erase_early"
	// PermCertificateRead reads deletion certificates.
	PermCertificateRead = "certificate:read"
	// PermDecisionStats reads a customer's decision counts per day, data
	// category and purpose (counts only: no subjects, no content).
	PermDecisionStats = "decision:stats"
	// PermPublicPageRotate gives the customer's public subprocessor page a
	// new address; the old one stops working: the controller's side.
	PermPublicPageRotate = "public-page:rotate"
	// PermRequestRead reads data-subject requests, their timelines and the
	// request register (ids, types, states, dates).
	PermRequestRead = "request:read"
	// PermRequestCreate records a request the controller received itself.
	PermRequestCreate = "request:create"
	// PermRequestInstruct instructs on a request (export, erasure,
	// restriction, objection, rejection), extends and pauses its deadline
	// and downloads its export: the controller.
	PermRequestInstruct = "request:instruct"
	// PermRequestRetry retries what failed on requests: operators.
	PermRequestRetry = "request:retry"
	// PermRetentionRead reads a customer's retention rules, legal holds,
	// deletion forecast, contract-end countdown and a sweep's dry run.
	PermRetentionRead = "retention:read"
	// PermHoldManage places and lifts legal holds (the DPO or the customer).
	PermHoldManage = "retention:hold"
	// PermRetentionSweep runs a customer's retention sweep now.
	PermRetentionSweep = "retention:sweep"
	// PermBreachReport reports a security incident: staff and detection
	// hooks.
	PermBreachReport = "breach:report"
	// PermBreachManage reads every incident, triages, scopes, notifies and
	// closes them, and reads the whole register: the DPO's side.
	PermBreachManage = "breach:manage"
	// PermBreachNoticeRead reads the customer's own breach notices and
	// register: the controller's side.
	PermBreachNoticeRead = "breach:notices"
	// PermBreachAcknowledge acknowledges a breach notice: the controller.
	PermBreachAcknowledge = "breach:acknowledge"
)

// Roles.
const (
	RolePlatformAdmin    = "platform_admin"
	RoleDPO              = "dpo"
	RoleSupport          = "support"
	RoleControllerAdmin  = "controller_admin"
	RoleControllerViewer = "controller_viewer"
	RoleChatService      = "chat_service"
	RoleAuditor          = "auditor"
	// RoleDetectionHook is a detection system's API key: it reports
	// incidents and nothing else.
	RoleDetectionHook = "detection_hook"
)

// PlatformRoles are held in the platform domain and reach every tenant.
var PlatformRoles = []string{RolePlatformAdmin, RoleDPO, RoleSupport, RoleDetectionHook}

// TenantRoles are held in one tenant's domain.
var TenantRoles = []string{RoleControllerAdmin, RoleControllerViewer, RoleChatService, RoleAuditor}

// Grants lists the permissions of each role.
var Grants = map[string][]string{
	RolePlatformAdmin: {PermTenantCreate, PermTenantList, PermTenantRead, PermTenantTerminate, PermAuditRead,
		PermUserCreate, PermUserDisable, PermMemberRead, PermMemberManage, PermKeyRead, PermKeyManage,
		PermDPAList, PermDPARead, PermDPAWrite, PermSubprocessorRead, PermSubprocessorWrite, PermSubprocessorList,
		PermWebhookManage, PermOutboxRead, PermOutboxRetry, PermTenantErase, PermCertificateRead, PermDecisionStats,
		PermRequestRead, PermRequestRetry, PermRetentionRead, PermHoldManage, PermRetentionSweep, PermBreachReport, PermBreachManage},
	RoleDPO: {PermTenantList, PermTenantRead, PermAuditRead, PermMemberRead, PermKeyRead,
		PermDPAList, PermDPARead, PermDPAWrite, PermSubprocessorRead, PermSubprocessorWrite, PermSubprocessorList,
		PermOutboxRead, PermOutboxRetry, PermCertificateRead, PermDecisionStats, PermRequestRead, PermRequestRetry,
		PermRetentionRead, PermHoldManage, PermRetentionSweep, PermBreachReport, PermBreachManage},
	RoleSupport: {PermTenantList, PermTenantRead, PermKeyRead, PermDPAList, PermSubprocessorRead, PermSubprocessorList, PermOutboxRead},
	RoleControllerAdmin: {PermTenantRead, PermAuditRead, PermUserCreate, PermMemberRead, PermMemberManage,
		PermKeyRead, PermKeyManage, PermDPAList, PermDPARead, PermDPAAccept, PermSubprocessorList, PermSubprocessorObject,
		PermWebhookManage, PermOutboxRead, PermSubjectInstruct, PermRecordExport, PermRecordErase, PermCertificateRead,
		PermDecisionStats, PermPublicPageRotate, PermTenantErase, PermTenantEraseEarly,
		PermRequestRead, PermRequestCreate, PermRequestInstruct, PermRetentionRead, PermHoldManage, PermBreachNoticeRead, PermBreachAcknowledge},
	RoleControllerViewer: {PermTenantRead, PermDPAList, PermDPARead, PermSubprocessorList, PermDecisionStats, PermRequestRead, PermRetentionRead, PermBreachNoticeRead},
	RoleChatService:      {PermDecide, PermRecordWrite},
	RoleAuditor: {PermTenantRead, PermAuditRead, PermDPAList, PermDPARead, PermSubprocessorList, PermOutboxRead, PermCertificateRead,
		PermDecisionStats, PermRetentionRead, PermBreachNoticeRead},
	RoleDetectionHook: {PermBreachReport},
}

// IsRole reports whether name is a known role.
func IsRole(name string) bool {
	_, ok := Grants[name]
	return ok
}

// ManagementPermissions are the permissions that create credentials or
// hand out roles: issuing and revoking API keys, creating and disabling
// accounts, setting people's roles.
var ManagementPermissions = []string{PermKeyManage, PermUserCreate, PermUserDisable, PermMemberManage}

// IsAdminRole reports whether role grants any of ManagementPermissions:
// machine keys with such a role must expire (identity.MaxAdminKeyLife).
// Today these are platform_admin and controller_admin.
func IsAdminRole(role string) bool {
	for _, perm := range Grants[role] {
		for _, m := range ManagementPermissions {
			if perm == m {
				return true
			}
		}
	}
	return false
}

// IsPlatformRole reports whether role is held in the platform domain.
func IsPlatformRole(role string) bool {
	for _, r := range PlatformRoles {
		if r == role {
			return true
		}
	}
	return false
}
