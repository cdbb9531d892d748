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
)

// PlatformRoles are held in the platform domain and reach every tenant.
var PlatformRoles = []string{RolePlatformAdmin, RoleDPO, RoleSupport}

// TenantRoles are held in one tenant's domain.
var TenantRoles = []string{RoleControllerAdmin, RoleControllerViewer, RoleChatService, RoleAuditor}

// Grants lists the permissions of each role.
var Grants = map[string][]string{
	RolePlatformAdmin: {PermTenantCreate, PermTenantList, PermTenantRead, PermTenantTerminate, PermAuditRead,
		PermUserCreate, PermUserDisable, PermMemberRead, PermMemberManage, PermKeyRead, PermKeyManage},
	RoleDPO:     {PermTenantList, PermTenantRead, PermAuditRead, PermMemberRead, PermKeyRead},
	RoleSupport: {PermTenantList, PermTenantRead, PermKeyRead},
	RoleControllerAdmin: {PermTenantRead, PermAuditRead, PermUserCreate, PermMemberRead, PermMemberManage,
		PermKeyRead, PermKeyManage},
	RoleControllerViewer: {PermTenantRead},
	RoleChatService:      {},
	RoleAuditor:          {PermTenantRead, PermAuditRead},
}

// IsRole reports whether name is a known role.
func IsRole(name string) bool {
	_, ok := Grants[name]
	return ok
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
