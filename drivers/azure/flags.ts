import type {DriverFlag} from '../../src/sdk/index.js'

export const description = 'Virtual machines on Microsoft Azure (Resource Manager), or on any ARM endpoint such as Azure Stack Hub'

// docker-machine's azure flag names and env vars, so its scripts keep working.
export const flags: DriverFlag[] = [
  {name: 'azure-subscription-id', type: 'string', env: 'AZURE_SUBSCRIPTION_ID', description: 'Subscription ID (az account show --query id -o tsv)'},
  {name: 'azure-resource-group', type: 'string', env: 'AZURE_RESOURCE_GROUP', default: 'berth', description: 'Resource group (made when absent)'},
  {name: 'azure-location', type: 'string', env: 'AZURE_LOCATION', default: 'japaneast', description: 'Location (region), e.g. japaneast or "East Asia"'},
  {name: 'azure-size', type: 'string', env: 'AZURE_SIZE', default: 'Standard_B2s', description: 'VM size'},
  {name: 'azure-image', type: 'string', env: 'AZURE_IMAGE', default: 'Canonical:ubuntu-24_04-lts:server:latest', description: 'Image URN publisher:offer:sku:version (Ubuntu LTS or Debian)'},
  {name: 'azure-ssh-user', type: 'string', env: 'AZURE_SSH_USER', default: 'docker-user', description: 'Admin user (Azure refuses root); berth provisions through sudo'},
  {name: 'azure-vnet', type: 'string', env: 'AZURE_VNET', default: 'berth-vnet', description: 'Virtual network, [resourcegroup:]name (made when absent)'},
  {name: 'azure-subnet', type: 'string', env: 'AZURE_SUBNET', default: 'berth', description: 'Subnet of the virtual network (made when absent)'},
  {name: 'azure-subnet-prefix', type: 'string', env: 'AZURE_SUBNET_PREFIX', default: '192.168.0.0/16', description: 'Address prefix of a subnet berth makes'},
  {name: 'azure-open-port', type: 'strings', env: 'AZURE_OPEN_PORT', description: 'Extra port to admit, PORT[/tcp|udp] (repeatable)'},
  {name: 'azure-open-cidr', type: 'string', env: 'AZURE_OPEN_CIDR', default: '*', description: 'Source CIDR admitted to SSH, the engine and open ports ("*": the Internet)'},
  {name: 'azure-use-private-ip', type: 'boolean', env: 'AZURE_USE_PRIVATE_IP', default: false, description: 'Reach the VM on its private IP'},
  {name: 'azure-no-public-ip', type: 'boolean', env: 'AZURE_NO_PUBLIC_IP', default: false, description: 'Make no public IP (implies --azure-use-private-ip)'},
  {name: 'azure-static-public-ip', type: 'boolean', env: 'AZURE_STATIC_PUBLIC_IP', default: false, description: 'Static public IP (else dynamic: it changes after deallocation)'},
  {name: 'azure-dns', type: 'string', env: 'AZURE_DNS_LABEL', description: 'DNS label of the public IP (<label>.<location>.cloudapp.azure.com)'},
  {name: 'azure-custom-data', type: 'string', env: 'AZURE_CUSTOM_DATA_FILE', description: 'File passed as the VM\'s cloud-init custom data, unchanged'},
  {name: 'azure-availability-zone', type: 'string', env: 'AZURE_AVAILABILITY_ZONE', description: 'Availability zone (1, 2 or 3)'},
  {name: 'azure-tenant-id', type: 'string', env: 'AZURE_TENANT_ID', description: 'Tenant (directory) ID of the service principal'},
  {name: 'azure-client-id', type: 'string', env: 'AZURE_CLIENT_ID', description: 'Client (application) ID of the service principal'},
  {name: 'azure-client-secret', type: 'string', env: 'AZURE_CLIENT_SECRET', secret: true, description: 'Client secret of the service principal (prefer the env var or --azure-client-secret-file)'},
  {name: 'azure-client-secret-file', type: 'string', env: 'AZURE_CLIENT_SECRET_FILE', description: 'File holding the client secret'},
  {name: 'azure-environment', type: 'string', env: 'AZURE_ENVIRONMENT', default: 'AzurePublicCloud', description: 'AzurePublicCloud, AzureChinaCloud or AzureUSGovernment'},
  {name: 'azure-resource-manager-endpoint', type: 'string', env: 'AZURE_RESOURCE_MANAGER_ENDPOINT', description: 'ARM endpoint URL (Azure Stack Hub or another ARM cloud); sign-in through AZURE_AUTHORITY_HOST'},
  {name: 'azure-stop-mode', type: 'string', env: 'AZURE_STOP_MODE', default: 'deallocate', description: '"deallocate" (stops billing, a dynamic IP changes) or "poweroff"'},
]
